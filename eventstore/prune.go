package eventstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of PrunerConfig.
const (
	// DefaultRetention is how long inbox rows and idempotency keys are kept: 7 days.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultPruneBatchSize is the most rows one DELETE removes.
	DefaultPruneBatchSize = 1000
	// DefaultPruneInterval is the pause between two passes.
	DefaultPruneInterval = time.Minute
)

// PrunerConfig configures a Pruner. Zero values take the defaults given per field; negative
// durations or sizes are refused by NewPruner.
type PrunerConfig struct {
	// Name labels the pruner's logs and metrics (several databases in one process); it does
	// not affect the lock, which is one per database. Default "default".
	Name string
	// Retention is how long both tables keep a row; default DefaultRetention (7 days).
	Retention time.Duration
	// InboxRetention is how long an inbox row is kept after processed_at; default Retention.
	// See the package documentation for what a redelivery after it does.
	InboxRetention time.Duration
	// IdempotencyRetention is how long an Idempotency-Key is remembered after created_at;
	// default Retention. After it, the same key runs the command again.
	IdempotencyRetention time.Duration
	// BatchSize is the most rows one DELETE removes, each in its own transaction;
	// default DefaultPruneBatchSize (1,000).
	BatchSize int
	// Interval is the pause between the end of a pass and the start of the next;
	// default DefaultPruneInterval (1 minute).
	Interval time.Duration
	// Log receives the pruner's structured logs; default slog.Default().
	Log *slog.Logger
	// Metrics receives the pruner's figures; default: unregistered metrics.
	Metrics *PrunerMetrics
}

// validate reports every negative setting at once.
func (c PrunerConfig) validate() error {
	var errs []error
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"Retention", c.Retention}, {"InboxRetention", c.InboxRetention},
		{"IdempotencyRetention", c.IdempotencyRetention}, {"Interval", c.Interval}} {
		if d.value < 0 {
			errs = append(errs, fmt.Errorf("eventstore: pruner: %s must not be negative, got %s", d.name, d.value))
		}
	}
	if c.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("eventstore: pruner: BatchSize must not be negative, got %d", c.BatchSize))
	}
	return errors.Join(errs...)
}

// withDefaults fills in the zero fields.
func (c PrunerConfig) withDefaults() PrunerConfig {
	if c.Name == "" {
		c.Name = "default"
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.InboxRetention == 0 {
		c.InboxRetention = c.Retention
	}
	if c.IdempotencyRetention == 0 {
		c.IdempotencyRetention = c.Retention
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultPruneBatchSize
	}
	if c.Interval == 0 {
		c.Interval = DefaultPruneInterval
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = NewPrunerMetrics(nil)
	}
	c.Log = c.Log.With("pruner", c.Name)
	return c
}

// Tables a Pruner prunes, as PruneResult and the metrics' table label name them.
const (
	PruneTableInbox       = "inbox"
	PruneTableIdempotency = "idempotency_keys"
)

// Each batch deletes the oldest rows past the retention ($1, an interval measured on the
// database's clock), at most $2 of them. ORDER BY the indexed timestamp (migration 0004)
// makes the subquery an index range scan under any plan, custom or generic, and
// ctid = ANY(ARRAY(subquery)) makes the subquery an InitPlan whose row addresses a TID scan
// visits: the primary key's "IN (subquery)" got a generic plan that hash-joined the
// subquery against a sequential scan of the whole table, every batch. A pass with nothing
// to delete is one index probe per table. The rows are never updated, so a ctid read by the
// subquery still names its row when the DELETE visits it (and if a row had moved, it would
// only be left for the next pass).
const (
	pruneInboxSQL = `DELETE FROM inbox WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM inbox
		WHERE processed_at < now() - $1::interval ORDER BY processed_at LIMIT $2))`
	pruneIdempotencySQL = `DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM idempotency_keys
		WHERE created_at < now() - $1::interval ORDER BY created_at LIMIT $2))`
)

// pruneLockKey is the session advisory lock a pass holds: one per database (advisory locks
// are scoped to the database), whatever the pruners' names.
var pruneLockKey = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("shopflow-pruner"))
	return int64(h.Sum64())
}()

// Pruner deletes inbox rows and idempotency keys older than their retention from one
// service database, in small batches, one instance per database at a time. Run it in
// every instance of a service: a pass that finds another instance's pass under way is
// skipped. Its methods are safe for concurrent use; concurrent passes exclude each other
// like the passes of different instances.
type Pruner struct {
	pool               *pgxpool.Pool
	cfg                PrunerConfig
	inbox, idempotency pruneTable
}

// pruneTable is one table a pass prunes.
type pruneTable struct {
	name      string
	sql       string
	retention time.Duration
	rows      prometheus.Counter
}

// NewPruner returns a pruner of pool's database, whose schema Migrate created. It returns an
// error for a nil pool or a negative setting (all of them, joined).
func NewPruner(pool *pgxpool.Pool, cfg PrunerConfig) (*Pruner, error) {
	err := cfg.validate()
	if pool == nil {
		err = errors.Join(errors.New("eventstore: pruner: nil pool"), err)
	}
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Pruner{
		pool: pool, cfg: cfg,
		inbox: pruneTable{name: PruneTableInbox, sql: pruneInboxSQL,
			retention: cfg.InboxRetention, rows: cfg.Metrics.InboxRows},
		idempotency: pruneTable{name: PruneTableIdempotency, sql: pruneIdempotencySQL,
			retention: cfg.IdempotencyRetention, rows: cfg.Metrics.IdempotencyRows},
	}, nil
}

// Run makes a pass (see PruneOnce) at once, then another Interval after each pass ends,
// until ctx ends; then it returns nil. A pass that fails (Postgres unreachable, the schema missing) ends Run with
// its error, for the caller's supervisor to restart it with backoff: a pass keeps no state,
// so a restart loses nothing, and a missed pass only lets the tables grow for a while.
func (p *Pruner) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := p.PruneOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		t.Reset(p.cfg.Interval)
	}
}

// PruneResult is what one pass did.
type PruneResult struct {
	// Skipped: another pass (of this or another instance) held the database's pruning
	// lock, so this one deleted nothing.
	Skipped bool
	// Inbox and Idempotency are the passes over the inbox and idempotency_keys tables.
	Inbox, Idempotency TableResult
}

// TableResult is one pass over one table.
type TableResult struct {
	// Rows is the number of rows deleted.
	Rows int64
	// Batches is the number of DELETE statements run, the last one deleting fewer than
	// BatchSize rows (so at least 1 for a pass that was not skipped).
	Batches int
}

// PruneOnce runs one pass: unless another pass holds the database's pruning lock (then it
// returns Skipped), it deletes each table's rows older than its retention, BatchSize rows
// per DELETE, each DELETE its own transaction, until a DELETE removes fewer than BatchSize.
// The lock is a session advisory lock on a pooled connection, held for the pass only. It
// returns the first error (wrapping ctx's if ctx ended), with the result so far.
func (p *Pruner) PruneOnce(ctx context.Context) (res PruneResult, err error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("eventstore: prune: acquire connection: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, pruneLockKey).Scan(&locked); err != nil {
		return res, fmt.Errorf("eventstore: prune: advisory lock: %w", err)
	}
	if !locked {
		p.cfg.Log.Debug("prune pass skipped: another pass holds the lock")
		return PruneResult{Skipped: true}, nil
	}
	defer func() { err = errors.Join(err, unlockPrune(ctx, conn)) }()
	if res.Inbox, err = p.pruneTable(ctx, conn, p.inbox); err != nil {
		return res, err
	}
	if res.Idempotency, err = p.pruneTable(ctx, conn, p.idempotency); err != nil {
		return res, err
	}
	p.cfg.Metrics.LastSuccess.SetToCurrentTime()
	p.logPass(res)
	return res, nil
}

// pruneTable deletes t's rows past its retention, batch after batch.
func (p *Pruner) pruneTable(ctx context.Context, conn *pgxpool.Conn, t pruneTable) (TableResult, error) {
	var r TableResult
	for {
		tag, err := conn.Exec(ctx, t.sql, t.retention, p.cfg.BatchSize)
		if err != nil {
			return r, fmt.Errorf("eventstore: prune %s: %w", t.name, err)
		}
		r.Batches++
		r.Rows += tag.RowsAffected()
		t.rows.Add(float64(tag.RowsAffected()))
		if tag.RowsAffected() < int64(p.cfg.BatchSize) {
			return r, nil
		}
	}
}

// unlockPrune releases the pass's lock. If that fails the connection is closed, which
// releases the lock too, rather than go back to the pool holding it.
func unlockPrune(ctx context.Context, conn *pgxpool.Conn) error {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var released bool
	err := conn.QueryRow(uctx, `SELECT pg_advisory_unlock($1)`, pruneLockKey).Scan(&released)
	if err == nil && released {
		return nil
	}
	_ = conn.Conn().Close(uctx)
	if err != nil {
		return fmt.Errorf("eventstore: prune: advisory unlock: %w", err)
	}
	return errors.New("eventstore: prune: advisory unlock: the lock was not held")
}

// logPass logs a pass that deleted rows at info level, an idle one at debug level.
func (p *Pruner) logPass(res PruneResult) {
	level := slog.LevelDebug
	if res.Inbox.Rows+res.Idempotency.Rows > 0 {
		level = slog.LevelInfo
	}
	p.cfg.Log.Log(context.Background(), level, "pruned",
		"inbox_rows", res.Inbox.Rows, "inbox_batches", res.Inbox.Batches,
		"idempotency_rows", res.Idempotency.Rows, "idempotency_batches", res.Idempotency.Batches)
}

// PrunerMetrics are a pruner's Prometheus figures. Create them once per registry: with
// NewPrunerMetrics for one database, or NewPrunerMetricVecs and For for several.
type PrunerMetrics struct {
	// InboxRows and IdempotencyRows count the rows deleted from each table
	// (shopflow_pruned_rows_total{pruner,table}).
	InboxRows, IdempotencyRows prometheus.Counter
	// LastSuccess is the Unix time of the last pass that held the lock and finished
	// (shopflow_prune_last_success_timestamp_seconds{pruner}). Passes skipped because
	// another instance was pruning leave it alone: alert on its maximum over instances.
	LastSuccess prometheus.Gauge
}

// NewPrunerMetrics registers the pruner metrics labelled pruner="default" on reg (nil: not
// registered). It panics if they are registered on reg already.
func NewPrunerMetrics(reg prometheus.Registerer) *PrunerMetrics {
	return NewPrunerMetricVecs(reg).For("default")
}

// PrunerMetricVecs holds the labelled metric families; For picks one pruner's series.
type PrunerMetricVecs struct {
	rows        *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
}

// NewPrunerMetricVecs registers the pruner metric families on reg (nil: not registered). It
// panics if they are registered on reg already.
func NewPrunerMetricVecs(reg prometheus.Registerer) *PrunerMetricVecs {
	v := &PrunerMetricVecs{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopflow_pruned_rows_total", Help: "Rows deleted by retention, by table: inbox or idempotency_keys.",
		}, []string{"pruner", "table"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shopflow_prune_last_success_timestamp_seconds",
			Help: "Unix time of this instance's last finished pruning pass (standbys skip theirs).",
		}, []string{"pruner"}),
	}
	if reg != nil {
		reg.MustRegister(v.rows, v.lastSuccess)
	}
	return v
}

// For returns the series of the pruner with the given name (PrunerConfig.Name).
func (v *PrunerMetricVecs) For(name string) *PrunerMetrics {
	return &PrunerMetrics{
		InboxRows:       v.rows.WithLabelValues(name, PruneTableInbox),
		IdempotencyRows: v.rows.WithLabelValues(name, PruneTableIdempotency),
		LastSuccess:     v.lastSuccess.WithLabelValues(name),
	}
}
