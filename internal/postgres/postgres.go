// Package postgres opens pgx connection pools for a service database.
package postgres

import (
	"context"
	"fmt"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tracer returns the pgx tracer of Shopflow's pools: exaring/otelpgx, the OpenTelemetry
// instrumentation the pgx project points to, which records a span per query, batch and
// pool acquire only inside a sampled trace (so the relay's and the scanners' background
// queries add none). It uses the global tracer provider as it is when called.
func Tracer() *otelpgx.Tracer { return otelpgx.NewTracer(otelpgx.WithTrimSQLInSpanName()) }

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
