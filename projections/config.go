package projections

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/pii"
)

// Names of the read models, also the names of their aliases (after Config.IndexPrefix).
const (
	Orders    = "orders"
	Products  = "products"
	Customers = "customers"
)

// Names returns the read models in rebuild order: the joined orders model last.
func Names() []string { return []string{Products, Customers, Orders} }

// Config configures workers, rebuilds, Status and the Reader. Zero values take the defaults
// given per field; Validate reports every bad setting at once.
type Config struct {
	// Brokers are the Kafka seed brokers. Required by workers, Rebuild and Status.
	Brokers []string
	// ClientOpts come first in the options of every Kafka client the workers, Rebuild and
	// Status build: the link's TLS and SASL settings (kafka.Security.Opts).
	ClientOpts []kgo.Opt
	// IndexPrefix is prepended to every alias and index name: alias IndexPrefix+"orders",
	// indices IndexPrefix+"orders_v<generation>". Default "" (production); tests isolate
	// themselves with a unique prefix. Lowercase letters, digits, '_' and '-' only.
	IndexPrefix string
	// OrdersTopic, InventoryTopic and PaymentsTopic are the event topics read; defaults
	// kafka.EventsTopic("orders"), ("inventory") and ("payments").
	OrdersTopic, InventoryTopic, PaymentsTopic string
	// DeadLetterTopic receives records no projection can apply; default
	// kafka.DeadLetterTopic("projections"). It must exist (topic auto-creation is off).
	DeadLetterTopic string
	// GroupPrefix names the live consumer groups: GroupPrefix+projection name. Default
	// "shopflow.projections.".
	GroupPrefix string
	// InstanceID, if set, makes the live workers' consumers static group members (see
	// kafka.StaticMember): a restarted process gets its partitions back at once. Unique per
	// process, stable across its restarts. Empty: dynamic membership.
	InstanceID string
	// SessionTimeout is how long the group waits for a live worker that stopped
	// heartbeating before its partitions go to the others (see kafka.SessionTimeout).
	// 0: franz-go's default, 45 s.
	SessionTimeout time.Duration
	// BatchSize is the most records applied per bulk request; default 1,000.
	BatchSize int
	// CacheSize is how many documents a worker (or rebuild) keeps in memory as it last
	// wrote them, so that their next events apply without reading them back; default
	// 50,000, negative: none. See the package documentation for why a stale entry is safe.
	CacheSize int
	// FlushInterval is how long a worker waits for a batch to fill after its first record;
	// default 2 ms. It bounds the latency added by batching; under load, batches grow anyway
	// with what arrives while the previous one is written.
	FlushInterval time.Duration
	// Shards and Replicas are the settings of new indices; defaults 1 and 0. Use Replicas ≥ 1
	// on a multi-node cluster.
	Shards, Replicas int
	// RefreshInterval is the refresh interval of live indices; default 1 s. Reads by id are
	// real-time regardless; it bounds how soon a change shows in searches.
	RefreshInterval time.Duration
	// GapTimeout is how long a live worker waits when an event is more than one version ahead
	// of its document (the index is behind that stream: a rebuild is catching up after its
	// swap) before applying it over the gap (the missing event was dead-lettered). While the
	// write index is marked catching_up it waits indefinitely. Default 30 s.
	GapTimeout time.Duration
	// RetryBackoff and MaxRetryBackoff bound the exponential backoff when Elasticsearch or
	// Kafka fail; defaults 100 ms and 10 s.
	RetryBackoff, MaxRetryBackoff time.Duration
	// DeleteGrace is how long Rebuild waits after the alias swap before deleting the old
	// index, so that reads that resolved the alias just before the swap finish; default 2 s.
	DeleteGrace time.Duration
	// Keys opens the customers' sealed personal data (the payments context's key store,
	// pii.Store): the customers and orders read models hold names and emails in clear, and
	// a customer whose key is destroyed as forgotten. nil: sealed values cannot be opened
	// and are indexed empty (clear values of accounts from before sealing are indexed as
	// they are).
	Keys pii.KeyGetter
	// Log receives structured logs; default slog.Default().
	Log *slog.Logger
	// Metrics receives the figures of workers; default: unregistered metrics.
	Metrics *Metrics
	// Changes, shared by the workers and the Reader of a process, wakes the reads waiting
	// for a document version when a worker of the process stores it; default none (such
	// reads poll Elasticsearch).
	Changes *Changes
}

var validPrefix = regexp.MustCompile(`^[a-z0-9_-]*$`)

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.OrdersTopic = or(c.OrdersTopic, kafka.EventsTopic("orders"))
	c.InventoryTopic = or(c.InventoryTopic, kafka.EventsTopic("inventory"))
	c.PaymentsTopic = or(c.PaymentsTopic, kafka.EventsTopic("payments"))
	c.DeadLetterTopic = or(c.DeadLetterTopic, kafka.DeadLetterTopic("projections"))
	c.GroupPrefix = or(c.GroupPrefix, defaultGroupPrefix)
	c.BatchSize = or(c.BatchSize, 1000)
	c.CacheSize = or(c.CacheSize, 50_000)
	c.FlushInterval = or(c.FlushInterval, 2*time.Millisecond)
	c.Shards = or(c.Shards, 1)
	c.RefreshInterval = or(c.RefreshInterval, time.Second)
	c.GapTimeout = or(c.GapTimeout, 30*time.Second)
	c.RetryBackoff = or(c.RetryBackoff, 100*time.Millisecond)
	c.MaxRetryBackoff = or(c.MaxRetryBackoff, 10*time.Second)
	c.DeleteGrace = or(c.DeleteGrace, 2*time.Second)
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = newMetrics()
	}
	return c
}

// validate checks the settings after defaults and joins every problem into one error.
// needKafka is false for the Reader, which only reads Elasticsearch.
func (c Config) validate(needKafka bool) error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("projections: "+format, args...)) }
	if needKafka && (len(c.Brokers) == 0 || slices.Contains(c.Brokers, "")) {
		bad("Brokers: at least one host:port is required")
	}
	if !validPrefix.MatchString(c.IndexPrefix) {
		bad("IndexPrefix %q: only lowercase letters, digits, '_' and '-'", c.IndexPrefix)
	}
	if c.BatchSize < 1 || c.BatchSize > 10_000 {
		bad("BatchSize %d: want 1..10000", c.BatchSize)
	}
	if c.Shards < 1 || c.Replicas < 0 {
		bad("Shards %d, Replicas %d: want Shards ≥ 1 and Replicas ≥ 0", c.Shards, c.Replicas)
	}
	for name, d := range map[string]time.Duration{"FlushInterval": c.FlushInterval, "RefreshInterval": c.RefreshInterval,
		"GapTimeout": c.GapTimeout, "RetryBackoff": c.RetryBackoff, "MaxRetryBackoff": c.MaxRetryBackoff, "DeleteGrace": c.DeleteGrace} {
		if d < 0 {
			bad("%s %s: must not be negative", name, d)
		}
	}
	return errors.Join(errs...)
}

// Validate checks every setting a worker, Rebuild or Status needs and joins all problems.
func (c Config) Validate() error { return c.validate(true) }

// Alias returns the alias of a read model: the name the read API queries.
func (c Config) Alias(name string) string { return c.IndexPrefix + name }

// Group returns the live consumer group of a read model.
func (c Config) Group(name string) string { return or(c.GroupPrefix, defaultGroupPrefix) + name }

const defaultGroupPrefix = "shopflow.projections."

// indexName returns the physical index of a read model's generation.
func (c Config) indexName(name string, generation int) string {
	return c.Alias(name) + "_v" + strconv.Itoa(generation)
}

// Topics returns the event topics the read model name reads (nil for an unknown name).
func (c Config) Topics(name string) []string {
	m, err := lookup(name)
	if err != nil {
		return nil
	}
	return topicsOf(c.withDefaults(), m)
}

// topic returns the events topic of a bounded context.
func (c Config) topic(context string) string {
	switch context {
	case "orders":
		return c.OrdersTopic
	case "inventory":
		return c.InventoryTopic
	case "payments":
		return c.PaymentsTopic
	}
	return ""
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// newClient returns a Kafka client for the brokers with the link's options, then opts.
func (c Config) newClient(opts ...kgo.Opt) (*kgo.Client, error) {
	return kafka.NewClient(c.Brokers, slices.Concat(c.ClientOpts, opts)...)
}
