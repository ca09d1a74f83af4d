// Package postgres opens pgx connection pools for a service database.
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/shopflow/internal/securelink"
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
// query parameters, as pgxpool documents, and so may the link's security, as libpq's
// (pgconn parses them): sslmode=verify-full with sslrootcert=<CA file> verifies the
// server's certificate and name, sslcert and sslkey give a client certificate, passfile a
// password file. A ping refused for the credentials or the certificate is explained (see
// Check).
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
		return nil, Explain(fmt.Errorf("postgres: ping %s: %w", cfg.ConnConfig.Database, err))
	}
	return pool, nil
}

// Explain adds the cause to a failure to connect: credentials the server refused
// (securelink.ErrCredentialsRefused: SQLSTATE 28P01, or 28000 when no pg_hba.conf line
// admits the connection, e.g. one without TLS) or a certificate that is not trusted
// (securelink.ErrUntrustedCertificate), with the URL parameters to check. Other errors are
// returned unchanged.
func Explain(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgerrcode.InvalidPassword:
			return securelink.Refused(err, "check the user and password (or passfile) of the database URL")
		case pgerrcode.InvalidAuthorizationSpecification:
			return securelink.Refused(err, "the server's pg_hba.conf admits no such connection: check the user, "+
				"the database and sslmode of the database URL")
		}
	}
	return securelink.Explain(err, "check sslrootcert (the CA file) and the host of the database URL")
}
