package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/console"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/config"
	"github.com/shopflow/shopflow/internal/elastic"
	"github.com/shopflow/shopflow/internal/health"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/pii"
	"github.com/shopflow/shopflow/internal/postgres"
	"github.com/shopflow/shopflow/internal/securelink"
	"github.com/shopflow/shopflow/internal/supervisor"
	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/sagas"
)

// deps are the connections a serving process holds; close releases them in reverse order.
type deps struct {
	pools     map[string]*pgxpool.Pool
	stores    map[string]*eventstore.Store
	kafka     *kgo.Client            // admin and health
	producers map[string]*kgo.Client // each relay's own producer, by context
	kafkaOpts []kgo.Opt              // every Kafka client's first options: the link's TLS and SASL
	es        *elasticsearch.Client
	// keys is the payments context's customer key store: on the payments pool, or on a
	// pool of its own (keysPool) for read models in a process not hosting payments.
	keys     *pii.Store
	keysPool *pgxpool.Pool
}

func (d *deps) close() {
	for _, s := range d.stores {
		s.Close()
	}
	for _, cl := range d.producers {
		cl.Close()
	}
	if d.kafka != nil {
		d.kafka.Close()
	}
	for _, p := range d.pools {
		p.Close()
	}
	if d.keysPool != nil {
		d.keysPool.Close()
	}
}

// connect opens the connections of a serving process and checks, within
// SHOPFLOW_STARTUP_TIMEOUT, that every server it needs answers and accepts the link:
// credentials refused or a certificate not trusted fail the start with the server, its
// address and the settings to check (an Elasticsearch that is merely down does not; see
// check) (see the Check functions of internal/postgres,
// internal/kafka and internal/elastic).
func connect(ctx context.Context, cfg config.Config, log *slog.Logger) (*deps, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()
	d := &deps{pools: map[string]*pgxpool.Pool{}, stores: map[string]*eventstore.Store{}, producers: map[string]*kgo.Client{}}
	err := d.open(ctx, cfg)
	if err == nil {
		err = d.check(ctx, cfg, log)
	}
	if err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// open connects the pools (each pinged) and builds the Kafka and Elasticsearch clients.
func (d *deps) open(ctx context.Context, cfg config.Config) error {
	for _, c := range cfg.Contexts {
		pool, err := postgres.Open(ctx, cfg.DatabaseURL(c))
		if err != nil {
			return fmt.Errorf("%s database: %w", c, err)
		}
		d.pools[c] = pool
		d.stores[c] = eventstore.New(pool)
	}
	var err error
	if d.keys, d.keysPool, err = customerKeys(ctx, cfg, d.pools["payments"]); err != nil {
		return err
	}
	if d.kafkaOpts, err = cfg.Kafka.Security().Opts(); err != nil {
		return err
	}
	if d.kafka, err = kafka.NewClient(cfg.KafkaBrokers, d.kafkaOpts...); err != nil {
		return err
	}
	for _, c := range cfg.Contexts {
		popts := slices.Concat(d.kafkaOpts, eventstore.RelayProducerOpts(), []kgo.Opt{kafka.Tracing("")})
		if d.producers[c], err = kafka.NewClient(cfg.KafkaBrokers, popts...); err != nil {
			delete(d.producers, c)
			return err
		}
	}
	d.es, err = elastic.NewClient(cfg.ElasticsearchURLs, cfg.Elasticsearch.Security())
	return err
}

// check asks Kafka and, with read models on, Elasticsearch whether they accept the link.
// Kafka must answer: serve creates its topics next. Elasticsearch must not refuse the
// credentials or present an untrusted certificate, but it may be down or red: the write
// side does not need it, the projection workers wait for it under supervision, and
// /readyz says so, so serve starts after a warning (within esCheckTimeout, not the whole
// start-up timeout).
func (d *deps) check(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	if err := kafka.Check(ctx, d.kafka, cfg.KafkaBrokers); err != nil {
		return err
	}
	if !cfg.ReadModels {
		return nil
	}
	ectx, cancel := context.WithTimeout(ctx, esCheckTimeout)
	defer cancel()
	err := elastic.Check(ectx, d.es, cfg.ElasticsearchURLs)
	if err != nil && !errors.Is(err, securelink.ErrCredentialsRefused) && !errors.Is(err, securelink.ErrUntrustedCertificate) {
		log.WarnContext(ctx, "elasticsearch is not available: serving writes; the read models wait for it", "err", err)
		return nil
	}
	return err
}

// esCheckTimeout bounds the start-up check of Elasticsearch: a refusal answers at once,
// and an unreachable node must not hold the write API back for the whole start-up timeout.
const esCheckTimeout = 5 * time.Second

// customerKeys returns the customer key store of a process hosting payments (on its pool)
// or running read models (on a pool of its own, returned to be closed); nil otherwise.
func customerKeys(ctx context.Context, cfg config.Config, payments *pgxpool.Pool) (*pii.Store, *pgxpool.Pool, error) {
	if payments != nil {
		return pii.NewStore(payments), nil, nil
	}
	if !cfg.ReadModels {
		return nil, nil, nil
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL("payments"))
	if err != nil {
		return nil, nil, fmt.Errorf("payments database (customer keys): %w", err)
	}
	return pii.NewStore(pool), pool, nil
}

// checker reports the dependencies this process uses: Elasticsearch only with read models.
func (d *deps) checker(readModels bool) *health.Checker {
	h := health.NewChecker(2 * time.Second)
	for name, pool := range d.pools {
		h.Add("postgres_"+name, pool.Ping)
	}
	h.Add("kafka", func(ctx context.Context) error { return kafka.Ping(ctx, d.kafka) })
	if !readModels {
		return h
	}
	h.Add("elasticsearch", func(ctx context.Context) error {
		status, err := elastic.Health(ctx, d.es)
		if err == nil && status == "red" {
			err = errors.New("cluster status red")
		}
		return err
	})
	return h
}

// serve runs the HTTP API and the supervised workers (see supervise). Shutdown order on SIGTERM:
// stop HTTP intake and drain requests, then stop the workers, then flush the producer, then
// close connections (deferred).
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	verifier, err := authenticator(ctx, cfg.Auth, log)
	if err != nil {
		return err
	}
	d, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.close()
	if err := migrateAll(cfg, log); err != nil {
		return err
	}
	// Every context's topics: the reactors of this process consume the other contexts' topics.
	if err := kafka.EnsureTopics(ctx, d.kafka, cfg.KafkaPartitions, cfg.Topics()...); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pcfg, err := projectionConfig(cfg, reg, log)
	if err != nil {
		return err
	}
	if cfg.ReadModels { // this process's workers wake the reads waiting for what they store
		pcfg.Changes = projections.NewChanges()
		if d.keys != nil {
			pcfg.Keys = d.keys
		}
	}
	sup, err := supervise(cfg, d, reg, pcfg, log)
	if err != nil {
		return err
	}
	e, err := newServer(cfg, d, sup, reg, pcfg, verifier, log)
	if err != nil {
		return err
	}
	workers, stopWorkers := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { sup.Run(workers) })
	servePprof(workers, cfg.PprofAddr, log)
	err = listen(ctx, e, cfg.HTTPAddr, log)
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if serr := e.Shutdown(sctx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("http shutdown: %w", serr))
	}
	stopWorkers()
	wg.Wait()
	for c, p := range d.producers {
		if ferr := p.Flush(sctx); ferr != nil {
			err = errors.Join(err, fmt.Errorf("flush %s relay producer: %w", c, ferr))
		}
	}
	log.Info("stopped")
	return err
}

// newServer builds the HTTP API: operational routes, the write routes of the hosted
// contexts and, with read models on, the read routes.
func newServer(cfg config.Config, d *deps, sup *supervisor.Supervisor, reg *prometheus.Registry, pcfg projections.Config,
	verifier api.Authenticator, log *slog.Logger) (*echo.Echo, error) {
	h := d.checker(cfg.ReadModels)
	for name, check := range sup.Checks() {
		h.Add(name, check)
	}
	e := api.New(api.Options{Log: log, Health: h, Registry: reg, Auth: verifier, AuthDisabled: cfg.Auth.Disabled,
		RateLimits: api.RateLimits{PerSecond: cfg.Auth.RatePerSecond, Burst: cfg.Auth.RateBurst,
			CustomerPerSecond: cfg.Auth.CustomerRatePerSecond, CustomerBurst: cfg.Auth.CustomerRateBurst},
		Timeouts: api.Timeouts{ReadHeader: cfg.HTTP.ReadHeaderTimeout, Read: cfg.HTTP.ReadTimeout, Write: cfg.HTTP.WriteTimeout,
			Idle: cfg.HTTP.IdleTimeout, MaxHeaderBytes: cfg.HTTP.MaxHeaderBytes}})
	handlers, err := writeHandlers(d.stores, d.keys)
	if err == nil {
		handlers.Options = api.WriteOptions{MaxInFlight: cfg.MaxCommandsInFlight, Timeout: cfg.CommandTimeout, Registry: reg}
		err = api.RegisterWriteRoutes(e, handlers)
	}
	if err != nil {
		return e, err
	}
	if err := registerConsole(e, cfg, d, sup, h, reg, pcfg, log); err != nil || !cfg.ReadModels {
		return e, err
	}
	reader, err := projections.NewReader(d.es, pcfg)
	if err != nil {
		return nil, err
	}
	api.RegisterReadRoutes(e, reader)
	return e, nil
}

// registerConsole mounts the operator console and the admin API, and supervises the
// console's overview sampler.
func registerConsole(e *echo.Echo, cfg config.Config, d *deps, sup *supervisor.Supervisor, h *health.Checker,
	reg *prometheus.Registry, pcfg projections.Config, log *slog.Logger) error {
	ccfg := console.Config{Brokers: cfg.KafkaBrokers, ClientOpts: d.kafkaOpts, Kafka: d.kafka, Health: h, Metrics: reg,
		TraceUIURL: cfg.TraceUIURL, Log: log}
	if d.keys != nil {
		ccfg.Keys = d.keys
	}
	for _, c := range cfg.Contexts {
		sc := sagaContext(cfg, c) // the relay's name is its topic, the default
		ccfg.Contexts = append(ccfg.Contexts, console.Context{Name: c, Store: d.stores[c],
			EventsTopic: sc.EventsTopic, DeadLetterTopic: sc.DeadLetterTopic, ReactorGroup: sc.Group})
	}
	if cfg.ReadModels {
		ccfg.ES, ccfg.Projections = d.es, pcfg
	}
	svc, err := console.New(ccfg)
	if err != nil {
		return err
	}
	pages, err := console.NewPages(svc, api.AdminAccessNote)
	if err != nil {
		return err
	}
	api.RegisterAdminRoutes(e, svc, pages)
	sup.Add("console", svc.Run, nil)
	log.Info("operator console at http://"+cfg.HTTPAddr+"/console", "access", api.AdminAccessNote)
	return nil
}

// authenticator returns the verifier of the configured issuer, nil when authentication is
// switched off (which it warns about at every start); it refuses to serve with neither.
func authenticator(ctx context.Context, cfg config.Auth, log *slog.Logger) (api.Authenticator, error) {
	if err := cfg.ValidateServing(); err != nil {
		return nil, err
	}
	if cfg.Disabled {
		log.Warn("authentication is OFF (SHOPFLOW_AUTH_DISABLED=true): every caller may call every route, as principal " +
			api.AnonymousSubject + "; only run this way behind something that authenticates")
		return nil, nil
	}
	v, err := auth.NewVerifier(ctx, cfg.Verifier())
	if err != nil {
		return nil, fmt.Errorf("authentication: %w", err)
	}
	log.Info("authenticating bearer tokens", "issuer", cfg.Issuer, "audience", cfg.Audience, "jwks_file", cfg.JWKSFile, "jwks_url", cfg.JWKSURL)
	return v, nil
}

// listen serves HTTP until ctx ends (nil) or the server fails.
func listen(ctx context.Context, e *echo.Echo, addr string, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- e.Start(addr) }()
	log.Info("serving", "addr", addr)
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// supervise builds the supervisor of the process's workers: per hosted context the outbox
// relay, the saga reactor (the orders one with its deadline scanner) and the pruner of the
// inbox and idempotency keys; with read models on, the live worker of every read model.
// Each worker's health is part of readiness.
func supervise(cfg config.Config, d *deps, reg prometheus.Registerer, pcfg projections.Config, log *slog.Logger) (*supervisor.Supervisor, error) {
	sup := supervisor.New(supervisor.Config{Log: log, Registry: reg})
	relayMetrics := eventstore.NewRelayMetricVecs(reg)
	pruneMetrics := eventstore.NewPrunerMetricVecs(reg)
	sagaCfg := sagas.Config{Brokers: cfg.KafkaBrokers, ClientOpts: d.kafkaOpts, Deadline: cfg.SettlementDeadline, InstanceID: cfg.GroupInstanceID(),
		SessionTimeout: cfg.KafkaSessionTimeout, Log: log, Metrics: sagas.NewMetrics(reg),
		Orders: sagaContext(cfg, "orders"), Inventory: sagaContext(cfg, "inventory"), Payments: sagaContext(cfg, "payments")}
	for _, c := range cfg.Contexts {
		relay, err := eventstore.NewRelay(d.pools[c], d.producers[c], eventstore.RelayConfig{
			Topic: cfg.EventsTopic(c), Log: log, Metrics: relayMetrics.For(c),
		})
		if err != nil {
			return nil, err
		}
		reactor, err := sagas.NewReactor(c, sagaCfg, d.stores[c], d.pools[c])
		if err != nil {
			return nil, err
		}
		pruner, err := eventstore.NewPruner(d.pools[c], eventstore.PrunerConfig{Name: c, InboxRetention: cfg.InboxRetention,
			IdempotencyRetention: cfg.IdempotencyRetention, Log: log, Metrics: pruneMetrics.For(c)})
		if err != nil {
			return nil, err
		}
		sup.Add("relay_"+c, relay.Run, relay.Health)
		sup.Add("saga_"+c, reactor.Run, reactor.Health)
		sup.Add("prune_"+c, pruner.Run, nil)
	}
	if cfg.ReadModels {
		if err := pcfg.Validate(); err != nil {
			return nil, err
		}
		for _, name := range projections.Names() {
			addProjection(sup, name, d.es, pcfg)
		}
	}
	return sup, nil
}

// addProjection supervises the live worker of a read model. A worker runs once (Run closes
// its Kafka client), so each start builds a new one.
func addProjection(sup *supervisor.Supervisor, name string, es *elasticsearch.Client, pcfg projections.Config) {
	var current atomic.Pointer[projections.Worker]
	sup.Add("projection_"+name, func(ctx context.Context) error {
		w, err := projections.NewWorker(name, es, pcfg)
		if err != nil {
			return err
		}
		current.Store(w)
		return w.Run(ctx)
	}, func() error {
		if w := current.Load(); w != nil {
			return w.Health()
		}
		return errors.New("not started")
	})
}

// sagaContext names a context's saga topics and group in the deployment's namespace.
func sagaContext(cfg config.Config, c string) sagas.ContextConfig {
	return sagas.ContextConfig{EventsTopic: cfg.EventsTopic(c), DeadLetterTopic: cfg.DeadLetterTopic(c), Group: cfg.SagaGroup(c)}
}

// projectionConfig is the read models' configuration; reg (nil for CLI use) receives their
// metrics.
func projectionConfig(cfg config.Config, reg prometheus.Registerer, log *slog.Logger) (projections.Config, error) {
	kopts, err := cfg.Kafka.Security().Opts()
	if err != nil {
		return projections.Config{}, err
	}
	pcfg := projections.Config{Brokers: cfg.KafkaBrokers, ClientOpts: kopts, InstanceID: cfg.GroupInstanceID(),
		SessionTimeout: cfg.KafkaSessionTimeout, Log: log,
		IndexPrefix: cfg.IndexPrefix(), GroupPrefix: cfg.ProjectionGroupPrefix(), DeadLetterTopic: cfg.DeadLetterTopic("projections"),
		OrdersTopic: cfg.EventsTopic("orders"), InventoryTopic: cfg.EventsTopic("inventory"), PaymentsTopic: cfg.EventsTopic("payments")}
	if reg != nil {
		m, err := projections.NewMetrics(reg)
		if err != nil {
			return pcfg, err
		}
		pcfg.Metrics = m
	}
	return pcfg, nil
}

// migrateAll brings every hosted context's event store schema up to date.
func migrateAll(cfg config.Config, log *slog.Logger) error {
	for _, c := range cfg.Contexts {
		if err := eventstore.Migrate(cfg.DatabaseURL(c)); err != nil {
			return fmt.Errorf("%s database: %w", c, postgres.Explain(err))
		}
		log.Info("schema up to date", "context", c)
	}
	return nil
}

func topics(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	opts, err := cfg.Kafka.Security().Opts()
	if err != nil {
		return err
	}
	cl, err := kafka.NewClient(cfg.KafkaBrokers, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	sctx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()
	if err := kafka.Check(sctx, cl, cfg.KafkaBrokers); err != nil {
		return err
	}
	names := cfg.Topics()
	if err := kafka.EnsureTopics(ctx, cl, cfg.KafkaPartitions, names...); err != nil {
		return err
	}
	log.Info("topics ready", "topics", names, "partitions", cfg.KafkaPartitions)
	return nil
}
