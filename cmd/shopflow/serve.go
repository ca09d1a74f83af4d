package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/internal/config"
	"github.com/shopflow/shopflow/internal/elastic"
	"github.com/shopflow/shopflow/internal/health"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/postgres"
)

// deps are the connections a serving process holds; close releases them in reverse order.
type deps struct {
	pools map[string]*pgxpool.Pool
	kafka *kgo.Client
	es    *elasticsearch.Client
}

func (d *deps) close() {
	if d.kafka != nil {
		d.kafka.Close()
	}
	for _, p := range d.pools {
		p.Close()
	}
}

func connect(ctx context.Context, cfg config.Config) (*deps, error) {
	d := &deps{pools: map[string]*pgxpool.Pool{}}
	for _, c := range cfg.Contexts {
		pool, err := postgres.Open(ctx, cfg.DatabaseURL(c))
		if err != nil {
			d.close()
			return nil, fmt.Errorf("%s database: %w", c, err)
		}
		d.pools[c] = pool
	}
	var err error
	if d.kafka, err = kafka.NewClient(cfg.KafkaBrokers); err != nil {
		d.close()
		return nil, err
	}
	if d.es, err = elastic.NewClient(cfg.ElasticsearchURLs); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *deps) checker() *health.Checker {
	h := health.NewChecker(2 * time.Second)
	for name, pool := range d.pools {
		h.Add("postgres_"+name, pool.Ping)
	}
	h.Add("kafka", func(ctx context.Context) error { return kafka.Ping(ctx, d.kafka) })
	h.Add("elasticsearch", func(ctx context.Context) error {
		status, err := elastic.Health(ctx, d.es)
		if err == nil && status == "red" {
			err = errors.New("cluster status red")
		}
		return err
	})
	return h
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	d, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.close()
	if err := kafka.EnsureTopics(ctx, d.kafka, cfg.KafkaPartitions, kafka.Topics(cfg.Contexts)...); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	e := api.New(api.Options{Log: log, Health: d.checker(), Registry: reg})

	errc := make(chan error, 1)
	go func() { errc <- e.Start(cfg.HTTPAddr) }()
	log.Info("serving", "addr", cfg.HTTPAddr, "contexts", cfg.Contexts)
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := e.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func topics(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	cl, err := kafka.NewClient(cfg.KafkaBrokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	names := kafka.Topics(config.Contexts)
	if err := kafka.EnsureTopics(ctx, cl, cfg.KafkaPartitions, names...); err != nil {
		return err
	}
	log.Info("topics ready", "topics", names, "partitions", cfg.KafkaPartitions)
	return nil
}
