package sagas

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/kafka"
)

// The bounded contexts, as named in topics, groups and metrics.
const (
	Orders    = "orders"
	Inventory = "inventory"
	Payments  = "payments"
)

// Defaults of Config.
const (
	DefaultDeadline       = 30 * time.Second
	DefaultScanInterval   = time.Second
	DefaultScanBatch      = 500
	DefaultBackoff        = 100 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultConcurrency    = 8
	DefaultMaxPollRecords = 1000
	// DefaultCommandAttempts is how often a reaction is decided again on a version
	// conflict before the conflict counts as a transient failure (then retried with
	// the reactor's backoff, without committing the offset).
	DefaultCommandAttempts = 10
)

// ContextConfig names one bounded context's Kafka resources.
type ContextConfig struct {
	// EventsTopic is the topic the context's relay publishes to and the other contexts'
	// reactors consume. Default kafka.EventsTopic(context), e.g. "orders.events".
	EventsTopic string
	// DeadLetterTopic receives the messages this context's reactor can never process.
	// Default kafka.DeadLetterTopic(context), e.g. "orders.dlt".
	DeadLetterTopic string
	// Group is the consumer group of this context's reactor. Default
	// "shopflow.sagas.<context>". Instances of one service share it and split the
	// partitions. Renaming it restarts consumption from the start of the topics, which
	// is safe (the inbox drops what was processed) but slow.
	Group string
}

// Config configures the reactors. The zero value of every field but Brokers takes the
// default given per field; call Validate (the constructors do) to check it.
type Config struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Orders, Inventory and Payments name each context's topics and consumer group.
	Orders, Inventory, Payments ContextConfig
	// Deadline is how long an order may stay pending before the orders reactor rejects it
	// with reason timeout. Default DefaultDeadline (30 s).
	Deadline time.Duration
	// ScanInterval is how often the orders reactor looks for orders past their deadline.
	// Default DefaultScanInterval (1 s); an order is rejected at most about
	// Deadline+ScanInterval after it was placed.
	ScanInterval time.Duration
	// ScanBatch is the most overdue orders rejected per scan query. Default 500.
	ScanBatch int
	// Backoff is the first wait after a transient failure (Postgres down, version
	// conflicts beyond Command.MaxAttempts, dead-letter topic unreachable); each further
	// failure of the same message doubles it up to MaxBackoff. Defaults 100 ms and 5 s.
	Backoff, MaxBackoff time.Duration
	// Concurrency is how many lanes a reactor processes at once (a lane holds the records
	// of a poll that share an order or a target aggregate, processed in order; see
	// lanes.go). Default 8.
	Concurrency int
	// MaxPollRecords bounds the records taken per poll. Default 1000.
	MaxPollRecords int
	// Command tunes the optimistic-concurrency retries of each reaction's write (see
	// command.Retry). A zero MaxAttempts means DefaultCommandAttempts.
	Command command.Config
	// ServerSideAssignment opts into the KIP-848 consumer group protocol (the broker
	// assigns partitions; kgo.ServerSideBalancer with the sticky balancer). Off by
	// default: franz-go v1.22 uses the classic protocol unless asked, and recommends
	// KIP-848 only from Kafka 4.3 (earlier brokers may answer an offset commit with
	// STALE_MEMBER_EPOCH). The classic protocol runs with the cooperative-sticky
	// balancer, so a rebalance only revokes the partitions that move.
	ServerSideAssignment bool
	// InstanceID, if set, makes the reactor's consumer a static group member (see
	// kafka.StaticMember): restarted under the same id, it gets its partitions back at once
	// instead of after the dead member's session timeout. Unique per process, stable across
	// its restarts. Empty: dynamic membership.
	InstanceID string
	// SessionTimeout is how long the group waits for a member that stopped heartbeating
	// before its partitions go to the others (see kafka.SessionTimeout): for a process lost
	// for good, how long its share of the orders waits. 0: franz-go's default, 45 s.
	SessionTimeout time.Duration
	// ClientOpts are appended to the options of every Kafka client a reactor builds
	// (consumer and dead-letter producer), e.g. kgo.ClientID or TLS settings.
	ClientOpts []kgo.Opt
	// Log receives the reactors' structured logs. Default slog.Default().
	Log *slog.Logger
	// Metrics receives the reactors' figures. Default: unregistered metrics.
	Metrics *Metrics
}

// Validate reports every invalid setting, joined. Zero values are valid (defaults).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("sagas: "+format, args...)) }
	if len(c.Brokers) == 0 || slices.Contains(c.Brokers, "") {
		bad("Brokers is required")
	}
	durations := []struct {
		name string
		d    time.Duration
	}{{"Deadline", c.Deadline}, {"ScanInterval", c.ScanInterval}, {"Backoff", c.Backoff}, {"MaxBackoff", c.MaxBackoff}}
	for _, x := range durations {
		if x.d < 0 {
			bad("%s %v is negative", x.name, x.d)
		}
	}
	if c.ScanBatch < 0 || c.Concurrency < 0 || c.MaxPollRecords < 0 {
		bad("ScanBatch, Concurrency and MaxPollRecords must not be negative")
	}
	if d := c.withDefaults(); d.Backoff > d.MaxBackoff {
		bad("Backoff %v exceeds MaxBackoff %v", d.Backoff, d.MaxBackoff)
	}
	errs = append(errs, c.Command.Validate(), c.checkTopics())
	return errors.Join(errs...)
}

// checkTopics refuses a configuration whose contexts share a topic or a group, which
// would make a reactor consume its own output or steal another's partitions.
func (c Config) checkTopics() error {
	d := c.withDefaults()
	var errs []error
	for kind, names := range map[string][]string{
		"topic": {d.Orders.EventsTopic, d.Inventory.EventsTopic, d.Payments.EventsTopic,
			d.Orders.DeadLetterTopic, d.Inventory.DeadLetterTopic, d.Payments.DeadLetterTopic},
		"group": {d.Orders.Group, d.Inventory.Group, d.Payments.Group},
	} {
		seen := map[string]bool{}
		for _, name := range names {
			if seen[name] {
				errs = append(errs, fmt.Errorf("sagas: %s %q is used twice", kind, name))
			}
			seen[name] = true
		}
	}
	return errors.Join(errs...)
}

// withDefaults fills the zero settings with their defaults.
func (c Config) withDefaults() Config {
	c.Orders = c.Orders.withDefaults(Orders)
	c.Inventory = c.Inventory.withDefaults(Inventory)
	c.Payments = c.Payments.withDefaults(Payments)
	c.Deadline = or(c.Deadline, DefaultDeadline)
	c.ScanInterval = or(c.ScanInterval, DefaultScanInterval)
	c.ScanBatch = or(c.ScanBatch, DefaultScanBatch)
	c.Backoff = or(c.Backoff, DefaultBackoff)
	c.MaxBackoff = or(c.MaxBackoff, DefaultMaxBackoff)
	c.Concurrency = or(c.Concurrency, DefaultConcurrency)
	c.MaxPollRecords = or(c.MaxPollRecords, DefaultMaxPollRecords)
	c.Command.MaxAttempts = or(c.Command.MaxAttempts, DefaultCommandAttempts)
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	return c
}

func (c ContextConfig) withDefaults(context string) ContextConfig {
	c.EventsTopic = or(c.EventsTopic, kafka.EventsTopic(context))
	c.DeadLetterTopic = or(c.DeadLetterTopic, kafka.DeadLetterTopic(context))
	c.Group = or(c.Group, "shopflow.sagas."+context)
	return c
}

// context returns the settings of a context by name.
func (c Config) context(name string) ContextConfig {
	switch name {
	case Orders:
		return c.Orders
	case Inventory:
		return c.Inventory
	default:
		return c.Payments
	}
}

// or returns v, or def if v is the zero value.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
