package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/health"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/pii"
	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/sagas"
)

// Context is one bounded context as the console sees it: its event store and the names of
// its relay, topics and reactor group.
type Context struct {
	// Name is the context: "orders", "inventory" or "payments". Required.
	Name string
	// Store is the context's event store. Required.
	Store *eventstore.Store
	// RelayName is the relay's cursor and lock name (eventstore.RelayConfig.Name); default
	// EventsTopic, the relay's default.
	RelayName string
	// EventsTopic and DeadLetterTopic default to kafka.EventsTopic(Name) and
	// kafka.DeadLetterTopic(Name); ReactorGroup to the sagas default "shopflow.sagas.<name>".
	EventsTopic, DeadLetterTopic, ReactorGroup string
}

// Config configures a Service. Contexts, Brokers and Kafka are required; without ES no read
// model is shown or rebuilt.
type Config struct {
	Contexts []Context
	// Brokers are the Kafka seed brokers (dead letters are read and redriven with clients
	// of their own).
	Brokers []string
	// ClientOpts come first in the options of those clients: the link's TLS and SASL
	// settings (kafka.Security.Opts).
	ClientOpts []kgo.Opt
	// Kafka is a client for admin requests (offsets, group lag), shared; the Service does
	// not close it.
	Kafka *kgo.Client
	// ES and Projections are the read models' Elasticsearch and configuration.
	ES          *elasticsearch.Client
	Projections projections.Config
	// Health, optional, is the process's readiness checker, shown on the overview.
	Health *health.Checker
	// Metrics, optional, is the process's metrics registry: the overview reads this
	// instance's relay and scanner figures from it.
	Metrics prometheus.Gatherer
	// Command configures the repositories aggregates are folded with for time travel (they
	// upcast old events with the domain's upcasters, as every reader does).
	Command command.Config
	// Keys, optional, opens the customers' sealed name and email in account views (the
	// payments context's key store); a forgotten customer shows as forgotten either way.
	Keys pii.KeyGetter
	// TraceUIURL, optional, is the base URL of the trace UI (Jaeger): an order's journey
	// links to TraceUIURL + "/trace/<trace id>" when its events carry a traceparent.
	TraceUIURL string
	// SampleEvery is how often the overview is sampled; default 2 s. History keeps the
	// samples of the last HistoryWindow (default 10 min).
	SampleEvery, HistoryWindow time.Duration
	// Log receives the console's logs; default slog.Default().
	Log *slog.Logger
}

// Service gathers what the console pages and the admin API show, and runs their actions
// (redrive, rebuild). Build it with New; run its overview sampler with Run. Safe for
// concurrent use.
type Service struct {
	cfg      Config
	contexts map[string]*Context
	folders  map[string]folder
	adm      *kadm.Client

	mu       sync.Mutex
	latest   *Overview
	history  []Sample
	rebuilds map[string]*Rebuild
	// cancels stop the running rebuilds, which rebuildWG counts.
	cancels   []context.CancelFunc
	rebuildWG sync.WaitGroup
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	var errs []error
	if len(cfg.Contexts) == 0 {
		errs = append(errs, errors.New("console: no contexts"))
	}
	if len(cfg.Brokers) == 0 || cfg.Kafka == nil {
		errs = append(errs, errors.New("console: Brokers and Kafka are required"))
	}
	s := &Service{cfg: cfg, contexts: map[string]*Context{}, rebuilds: map[string]*Rebuild{}}
	for _, c := range cfg.Contexts {
		if c.Store == nil || !slices.Contains(contextNames, c.Name) {
			errs = append(errs, fmt.Errorf("console: context %q needs a store and one of the names %v", c.Name, contextNames))
			continue
		}
		c.EventsTopic = cmp.Or(c.EventsTopic, kafka.EventsTopic(c.Name))
		c.DeadLetterTopic = cmp.Or(c.DeadLetterTopic, kafka.DeadLetterTopic(c.Name))
		c.RelayName = cmp.Or(c.RelayName, c.EventsTopic)
		c.ReactorGroup = cmp.Or(c.ReactorGroup, "shopflow.sagas."+c.Name)
		s.contexts[c.Name] = &c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.cfg.SampleEvery = cmp.Or(cfg.SampleEvery, 2*time.Second)
	s.cfg.HistoryWindow = cmp.Or(cfg.HistoryWindow, 10*time.Minute)
	s.cfg.TraceUIURL = strings.TrimRight(cfg.TraceUIURL, "/")
	if s.cfg.Log == nil {
		s.cfg.Log = slog.Default()
	}
	s.adm = kadm.NewClient(cfg.Kafka)
	var err error
	s.folders, err = newFolders(cfg.Command, cfg.Keys)
	return s, err
}

// contextNames are the bounded contexts, in the order pages list them.
var contextNames = []string{sagas.Orders, sagas.Inventory, sagas.Payments}

// Contexts returns the names of the contexts this Service serves, in page order.
func (s *Service) Contexts() []string {
	var out []string
	for _, n := range contextNames {
		if _, ok := s.contexts[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// TracingOn reports whether journeys link to a trace UI.
func (s *Service) TracingOn() bool { return s.cfg.TraceUIURL != "" }

// notFound returns an error matching domain.ErrNotFound (the API answers 404).
func notFound(format string, args ...any) error {
	return fmt.Errorf("%w: %s", domain.ErrNotFound, fmt.Sprintf(format, args...))
}
