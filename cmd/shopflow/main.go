// Command shopflow runs Shopflow's processes and tools.
//
//	shopflow serve    run the HTTP API and workers of the contexts in SHOPFLOW_CONTEXTS
//	shopflow topics   create the Kafka topics (idempotent)
//	shopflow migrate  bring every context's database schema up to date (idempotent)
//	shopflow healthcheck  exit 0 when this process's GET /readyz answers 200 (for containers)
//	shopflow dlt list|redrive <context> …  inspect and re-drive a saga reactor's dead letters
//	shopflow projections rebuild <name>|status  rebuild a read model with no read downtime
//	shopflow token --role ROLES [--customer ID] [--ttl D]  mint a token with the local key
//	shopflow auth init-local DIR  create the local signing key and key set (make up does)
//
// Configuration comes from the environment (see internal/config); logs are JSON on stderr.
package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shopflow/shopflow/internal/config"
	"github.com/shopflow/shopflow/internal/telemetry"
)

const usage = `usage: shopflow <command>

commands:
  serve    run the HTTP API and the workers of the contexts in SHOPFLOW_CONTEXTS
  topics   create Shopflow's Kafka topics (idempotent)
  migrate  bring the database schema of the contexts in SHOPFLOW_CONTEXTS up to date
  healthcheck  exit 0 when the server at SHOPFLOW_HTTP_ADDR is ready (container probes)
  dlt      list or re-drive the dead letters of a context (shopflow dlt for details)
  projections rebuild <orders|products|customers|all> | status
  token    --role ROLES [--customer ID] [--ttl 1h]: print a token signed by the local key
  auth     init-local DIR: create the local signing key and key set (make up does this)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "shopflow: invalid configuration:\n%v\n", err)
		os.Exit(2)
	}
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})))
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	switch os.Args[1] {
	case "serve":
		err = traced(ctx, log, func() error { return serve(ctx, cfg, log) })
	case "topics":
		err = topics(ctx, cfg, log)
	case "migrate":
		err = migrateAll(cfg, log)
	case "healthcheck":
		err = healthcheck(ctx, cfg)
	case "dlt":
		err = dlt(ctx, cfg, os.Args[2:])
	case "projections":
		err = projectionsCmd(ctx, cfg, log, os.Args[2:])
	case "token":
		err = token(cfg, os.Args[2:], os.Stdout)
	case "auth":
		err = authInit(os.Args[2:], os.Stdout)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		log.Error("shopflow "+os.Args[1]+" failed", "err", err)
		os.Exit(1)
	}
}

// traced runs fn with tracing set up from the OTEL_* environment (see internal/telemetry),
// then flushes the spans still buffered, for at most five seconds: a trace backend that is
// down must not hold up a shutdown.
func traced(ctx context.Context, log *slog.Logger, fn func() error) error {
	shutdown, enabled, err := telemetry.Setup(ctx)
	if err != nil {
		return err
	}
	if enabled {
		log.Info("tracing on", "endpoint", cmp.Or(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")),
			"sampler", cmp.Or(os.Getenv("OTEL_TRACES_SAMPLER"), "parentbased_always_on"))
	} else {
		log.Info("tracing off: set OTEL_EXPORTER_OTLP_ENDPOINT to export traces")
	}
	err = fn()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if serr := shutdown(sctx); serr != nil {
		log.Warn("flushing traces failed", "err", serr)
	}
	return err
}
