// Package postgres opens pgx connection pools for a service database.
package postgres

import (
	"context"
	"fmt"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tracer returns the pgx tracer of Shopflow's pools: exaring/otelpgx, the OpenTelemetry
// instrumentation the pgx project points to, which records spans only inside a sampled trace
// (so the relay's and the scanners' background queries add none). It records a span per
// query, but none per batch (Shopflow's only batch is an append, whose "eventstore append"
// span is the batch's), per statement within a batch, per statement preparation or per pool
// acquire: those tripled the spans of an order's trace and their cost under load. It uses
// the global tracer provider as it is when called.
func Tracer() pgx.QueryTracer {
	return queryTracer{otelpgx.NewTracer(otelpgx.WithTrimSQLInSpanName(), otelpgx.WithDisableAcquireTracer())}
}

// queryTracer is otelpgx's tracer without the spans Tracer leaves out.
type queryTracer struct{ *otelpgx.Tracer }

// TraceBatchStart records nothing: the append that sends the batch has its own span.
func (queryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

// TraceBatchQuery records nothing (see TraceBatchStart).
func (queryTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd records nothing (see TraceBatchStart).
func (queryTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TracePrepareStart records nothing: preparing is part of the query it serves.
func (queryTracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return ctx
}

// TracePrepareEnd records nothing (see TracePrepareStart).
func (queryTracer) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// Open connects a pool to url and pings it, so a bad URL or a down server fails at start-up
// rather than on the first command. Pool settings (pool_max_conns, …) may be given as URL
// query parameters, as pgxpool documents.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	cfg.ConnConfig.Tracer = Tracer()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", cfg.ConnConfig.Database, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping %s: %w", cfg.ConnConfig.Database, err)
	}
	return pool, nil
}
