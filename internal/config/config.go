// Package config loads Shopflow's process configuration from the environment.
//
// Every setting has a documented default that matches `make up`, so a bare `shopflow serve`
// on a developer machine needs no variables. Load reports every bad setting at once.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Contexts are the bounded contexts a process can host, in saga order.
var Contexts = []string{"orders", "inventory", "payments"}

// Config is the whole process configuration. Field tags name the environment variable and
// its default.
type Config struct {
	// LogLevel is debug, info, warn or error.
	LogLevel slog.Level `env:"SHOPFLOW_LOG_LEVEL" envDefault:"info"`
	// HTTPAddr is where the HTTP API (write and read routes, health, metrics) listens.
	HTTPAddr string `env:"SHOPFLOW_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	// Contexts lists the bounded contexts this process runs; all of them by default.
	Contexts []string `env:"SHOPFLOW_CONTEXTS" envDefault:"orders,inventory,payments" envSeparator:","`
	// ReadModels runs the Elasticsearch projection workers and serves the read API in this
	// process. Turn it off in processes that host only a context's write side.
	ReadModels bool `env:"SHOPFLOW_READ_MODELS" envDefault:"true"`
	// DatabaseURLs holds one Postgres URL per context (database per service).
	OrdersDatabaseURL    string `env:"SHOPFLOW_ORDERS_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/orders"`
	InventoryDatabaseURL string `env:"SHOPFLOW_INVENTORY_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/inventory"`
	PaymentsDatabaseURL  string `env:"SHOPFLOW_PAYMENTS_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/payments"`
	// KafkaBrokers are the seed brokers.
	KafkaBrokers []string `env:"SHOPFLOW_KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	// KafkaPartitions is the partition count of the topics Shopflow creates.
	KafkaPartitions int32 `env:"SHOPFLOW_KAFKA_PARTITIONS" envDefault:"6"`
	// ElasticsearchURLs are the Elasticsearch HTTP endpoints.
	ElasticsearchURLs []string `env:"SHOPFLOW_ES_URLS" envDefault:"http://127.0.0.1:9200" envSeparator:","`
	// SettlementDeadline is how long an order may stay pending before it is rejected with
	// reason "timeout" (and compensated).
	SettlementDeadline time.Duration `env:"SHOPFLOW_SETTLEMENT_DEADLINE" envDefault:"30s"`
	// InboxRetention is how long a saga reactor's inbox keeps the row of a processed
	// message (eventstore.Pruner deletes older ones); a message delivered again after it is
	// decided again on the aggregates' state (see the eventstore package documentation).
	InboxRetention time.Duration `env:"SHOPFLOW_INBOX_RETENTION" envDefault:"168h"`
	// IdempotencyRetention is how long an Idempotency-Key of the write API is remembered;
	// after it the same key runs the command again.
	IdempotencyRetention time.Duration `env:"SHOPFLOW_IDEMPOTENCY_RETENTION" envDefault:"168h"`
	// StartupTimeout bounds how long serve waits at start-up for the servers to answer (and
	// to accept the link's credentials and certificates) before it gives up.
	StartupTimeout time.Duration `env:"SHOPFLOW_STARTUP_TIMEOUT" envDefault:"30s"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM/SIGINT.
	ShutdownTimeout time.Duration `env:"SHOPFLOW_SHUTDOWN_TIMEOUT" envDefault:"20s"`
	// MaxCommandsInFlight bounds the commands the write API runs at once; past it a command
	// is answered 503 with Retry-After at once (see api.DefaultMaxCommandsInFlight for why 64).
	MaxCommandsInFlight int `env:"SHOPFLOW_MAX_COMMANDS_IN_FLIGHT" envDefault:"64"`
	// CommandTimeout is each write API command's deadline; a command past it is answered
	// 503 with Retry-After. It must be shorter than ShutdownTimeout, so that a drain lets
	// running commands finish.
	CommandTimeout time.Duration `env:"SHOPFLOW_COMMAND_TIMEOUT" envDefault:"5s"`
	// InstanceID names this process in the Kafka consumer groups of its reactors and
	// projection workers (static membership, see internal/kafka): restarted under the same
	// id, it gets its partitions back at once. Unique per process and stable across its
	// restarts; default: the host name and the hosted contexts. "dynamic" turns static
	// membership off. Use GroupInstanceID, which applies the default.
	InstanceID string `env:"SHOPFLOW_INSTANCE_ID"`
	// KafkaSessionTimeout is how long a consumer group waits for a member that stopped
	// heartbeating before it hands the member's partitions to the others: for a process
	// that crashed and does not come back (a static member does not leave its group), how
	// long the orders in its partitions wait. It must be shorter than SettlementDeadline, or
	// those orders are rejected for timeout before anyone reads them; and longer than a
	// restart under the same SHOPFLOW_INSTANCE_ID usually takes, which then needs no
	// rebalance. The brokers allow 6 s to 30 min by default.
	KafkaSessionTimeout time.Duration `env:"SHOPFLOW_KAFKA_SESSION_TIMEOUT" envDefault:"20s"`
	// PprofAddr, if set, serves Go's profiles (net/http/pprof, /debug/pprof/) on this
	// address, apart from the API. Off by default; keep it on loopback or a private network:
	// profiles reveal the process's internals.
	PprofAddr string `env:"SHOPFLOW_PPROF_ADDR"`
	// TraceUIURL, if set, is the base URL of the trace UI (Jaeger, e.g.
	// http://127.0.0.1:16686): the console's order journey links to <url>/trace/<trace id>
	// of the order's events. Off by default.
	TraceUIURL string `env:"SHOPFLOW_TRACE_UI_URL"`
	// Namespace, if set, starts the name of every Kafka topic, consumer group and
	// Elasticsearch index of this deployment (see namespace.go), so that several
	// deployments can share the servers. Lowercase letters, digits, '_' and '-'.
	Namespace string `env:"SHOPFLOW_NAMESPACE"`
	// HTTP bounds each connection of the HTTP server.
	HTTP HTTP
	// Auth configures authentication and per-principal rate limits.
	Auth Auth
	// Kafka secures the links to the brokers (TLS, SASL/SCRAM).
	Kafka Kafka
	// Elasticsearch secures the links to the nodes (API key or basic auth, CA file).
	Elasticsearch Elasticsearch
}

// HTTP bounds each connection of the HTTP server (see api.Timeouts for the defaults' reasons).
type HTTP struct {
	ReadHeaderTimeout time.Duration `env:"SHOPFLOW_HTTP_READ_HEADER_TIMEOUT" envDefault:"5s"`
	ReadTimeout       time.Duration `env:"SHOPFLOW_HTTP_READ_TIMEOUT" envDefault:"10s"`
	WriteTimeout      time.Duration `env:"SHOPFLOW_HTTP_WRITE_TIMEOUT" envDefault:"30s"`
	IdleTimeout       time.Duration `env:"SHOPFLOW_HTTP_IDLE_TIMEOUT" envDefault:"2m"`
	MaxHeaderBytes    int           `env:"SHOPFLOW_HTTP_MAX_HEADER_BYTES" envDefault:"32768"`
}

// validate checks the bounds; the write timeout must outlast a command's deadline.
func (h HTTP) validate(commandTimeout time.Duration) []error {
	var errs []error
	for name, d := range map[string]time.Duration{"SHOPFLOW_HTTP_READ_HEADER_TIMEOUT": h.ReadHeaderTimeout,
		"SHOPFLOW_HTTP_READ_TIMEOUT": h.ReadTimeout, "SHOPFLOW_HTTP_IDLE_TIMEOUT": h.IdleTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", name, d))
		}
	}
	if h.WriteTimeout <= commandTimeout {
		errs = append(errs, fmt.Errorf("SHOPFLOW_HTTP_WRITE_TIMEOUT: must be longer than SHOPFLOW_COMMAND_TIMEOUT (%s), got %s", commandTimeout, h.WriteTimeout))
	}
	if h.MaxHeaderBytes < 4096 {
		errs = append(errs, fmt.Errorf("SHOPFLOW_HTTP_MAX_HEADER_BYTES: want at least 4096, got %d", h.MaxHeaderBytes))
	}
	return errs
}

// DynamicMembership is the InstanceID that turns static group membership off.
const DynamicMembership = "dynamic"

// GroupInstanceID is the consumer groups' instance id of this process ("" for dynamic
// membership): InstanceID, or by default "<host name>/<contexts>[/read-models]", which is
// unique per process on a host unless two processes host the same parts.
func (c Config) GroupInstanceID() string {
	switch c.InstanceID {
	case DynamicMembership:
		return ""
	case "":
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "localhost"
		}
		id := host + "/" + strings.Join(c.Contexts, "+")
		if c.ReadModels {
			id += "/read-models"
		}
		return id
	}
	return c.InstanceID
}

// Load reads the environment and validates the result. The error lists every problem.
func Load() (Config, error) {
	cfg, err := env.ParseAs[Config]()
	if err != nil {
		return cfg, errors.Join(nameVariables(err), cfg.Validate())
	}
	return cfg, cfg.Validate()
}

// nameVariables rewrites the parser's errors, which name Go struct fields, to name the
// environment variable the user has to fix.
func nameVariables(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	errs := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := reflect.TypeFor[Config]().FieldByName(pe.Name); ok {
				e = fmt.Errorf("%s: %w", f.Tag.Get("env"), pe.Err)
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// DatabaseURL returns the Postgres URL of a bounded context.
func (c Config) DatabaseURL(context string) string {
	switch context {
	case "orders":
		return c.OrdersDatabaseURL
	case "inventory":
		return c.InventoryDatabaseURL
	case "payments":
		return c.PaymentsDatabaseURL
	}
	return ""
}

// redacted is raw with the password of a URL replaced, for error messages.
func redacted(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(a URL that does not parse)"
}

// validateRetention checks the retention of the inbox and of idempotency keys.
func (c Config) validateRetention() []error {
	var errs []error
	if c.InboxRetention <= 0 {
		errs = append(errs, fmt.Errorf("SHOPFLOW_INBOX_RETENTION: must be positive, got %s", c.InboxRetention))
	}
	if c.IdempotencyRetention <= 0 {
		errs = append(errs, fmt.Errorf("SHOPFLOW_IDEMPOTENCY_RETENTION: must be positive, got %s", c.IdempotencyRetention))
	}
	return errs
}

// Validate checks every setting and joins all problems into one error naming each variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if c.HTTPAddr == "" || !strings.Contains(c.HTTPAddr, ":") {
		bad("SHOPFLOW_HTTP_ADDR", "want host:port, got %q", c.HTTPAddr)
	}
	if len(c.Contexts) == 0 {
		bad("SHOPFLOW_CONTEXTS", "must name at least one of %v", Contexts)
	}
	for _, ctx := range c.Contexts {
		if !slices.Contains(Contexts, ctx) {
			bad("SHOPFLOW_CONTEXTS", "unknown context %q (known: %v)", ctx, Contexts)
		}
	}
	for _, ctx := range Contexts {
		name := "SHOPFLOW_" + strings.ToUpper(ctx) + "_DATABASE_URL"
		u, err := url.Parse(c.DatabaseURL(ctx))
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad(name, "want a postgres:// URL, got %q", redacted(c.DatabaseURL(ctx)))
			continue
		}
		errs = append(errs, validateDatabaseLink(name, u)...)
	}
	if len(c.KafkaBrokers) == 0 || slices.Contains(c.KafkaBrokers, "") {
		bad("SHOPFLOW_KAFKA_BROKERS", "want a comma-separated list of host:port")
	}
	if c.KafkaPartitions < 1 || c.KafkaPartitions > 1024 {
		bad("SHOPFLOW_KAFKA_PARTITIONS", "want 1..1024, got %d", c.KafkaPartitions)
	}
	for _, raw := range c.ElasticsearchURLs {
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("SHOPFLOW_ES_URLS", "want http(s)://host:port URLs, got %q", raw)
		}
	}
	if c.SettlementDeadline <= 0 {
		bad("SHOPFLOW_SETTLEMENT_DEADLINE", "must be positive, got %s", c.SettlementDeadline)
	}
	if c.KafkaSessionTimeout < 6*time.Second {
		bad("SHOPFLOW_KAFKA_SESSION_TIMEOUT", "want at least 6s (the brokers' default group.min.session.timeout.ms), got %s", c.KafkaSessionTimeout)
	} else if c.KafkaSessionTimeout >= c.SettlementDeadline && c.SettlementDeadline > 0 {
		bad("SHOPFLOW_KAFKA_SESSION_TIMEOUT", "must be shorter than SHOPFLOW_SETTLEMENT_DEADLINE (%s): a crashed member's orders would time out before its partitions move, got %s",
			c.SettlementDeadline, c.KafkaSessionTimeout)
	}
	errs = append(errs, c.validateRetention()...)
	if c.StartupTimeout <= 0 {
		bad("SHOPFLOW_STARTUP_TIMEOUT", "must be positive, got %s", c.StartupTimeout)
	}
	if c.ShutdownTimeout <= 0 {
		bad("SHOPFLOW_SHUTDOWN_TIMEOUT", "must be positive, got %s", c.ShutdownTimeout)
	}
	errs = append(errs, c.validateCommands()...)
	errs = append(errs, c.HTTP.validate(c.CommandTimeout)...)
	errs = append(errs, c.Auth.validate()...)
	errs = append(errs, c.Kafka.validate()...)
	errs = append(errs, c.Elasticsearch.validate()...)
	if !validNamespace.MatchString(c.Namespace) {
		bad("SHOPFLOW_NAMESPACE", "want up to 40 lowercase letters, digits, '_' and '-', starting with a letter or digit, got %q", c.Namespace)
	}
	if c.PprofAddr != "" && !strings.Contains(c.PprofAddr, ":") {
		bad("SHOPFLOW_PPROF_ADDR", "want host:port, got %q", c.PprofAddr)
	}
	if u, err := url.Parse(c.TraceUIURL); c.TraceUIURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		bad("SHOPFLOW_TRACE_UI_URL", "want an http(s) URL such as http://127.0.0.1:16686, got %q", c.TraceUIURL)
	}
	return errors.Join(errs...)
}

// validateCommands checks the write API's bounds.
func (c Config) validateCommands() []error {
	var errs []error
	if c.MaxCommandsInFlight < 1 {
		errs = append(errs, fmt.Errorf("SHOPFLOW_MAX_COMMANDS_IN_FLIGHT: must be at least 1, got %d", c.MaxCommandsInFlight))
	}
	if c.CommandTimeout <= 0 || c.CommandTimeout >= c.ShutdownTimeout {
		errs = append(errs, fmt.Errorf("SHOPFLOW_COMMAND_TIMEOUT: want a positive duration shorter than SHOPFLOW_SHUTDOWN_TIMEOUT (%s), got %s",
			c.ShutdownTimeout, c.CommandTimeout))
	}
	return errs
}
