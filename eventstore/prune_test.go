package eventstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/testenv"
)

const day = 24 * time.Hour

// insertAged inserts n rows into table (inbox or idempotency_keys) whose timestamp
// (processed_at or created_at) is age before now, minus i seconds for the i-th row: the
// row id prefix+"-"+n is the oldest.
func insertAged(t testing.TB, pool *pgxpool.Pool, table, prefix string, n int, age time.Duration) {
	t.Helper()
	sql := map[string]string{
		"inbox": `INSERT INTO inbox (consumer, message_id, processed_at)
			SELECT 'test', $1 || '-' || g, now() - $3::interval - g * interval '1 second'
			FROM generate_series(1, $2) g`,
		"idempotency_keys": `INSERT INTO idempotency_keys (key, request_hash, status, response, created_at)
			SELECT $1 || '-' || g, '\x00', 200, '{}', now() - $3::interval - g * interval '1 second'
			FROM generate_series(1, $2) g`,
	}[table]
	if _, err := pool.Exec(context.Background(), sql, prefix, n, age); err != nil {
		t.Fatalf("insert into %s: %v", table, err)
	}
}

// count returns the number of rows of table.
func count(t testing.TB, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func newPruner(t testing.TB, pool *pgxpool.Pool, cfg eventstore.PrunerConfig) *eventstore.Pruner {
	t.Helper()
	p, err := eventstore.NewPruner(pool, cfg)
	if err != nil {
		t.Fatalf("NewPruner: %v", err)
	}
	return p
}

func TestPruneDeletesOldRowsInBatches(t *testing.T) {
	pool := testenv.NewEventStore(t).Pool
	insertAged(t, pool, "inbox", "old", 10, 8*day)
	insertAged(t, pool, "idempotency_keys", "old", 9, 8*day)
	for _, table := range []string{"inbox", "idempotency_keys"} {
		insertAged(t, pool, table, "inside", 2, 6*day) // within the default 7 days
		insertAged(t, pool, table, "new", 2, 0)
	}
	reg := prometheus.NewRegistry()
	m := eventstore.NewPrunerMetrics(reg)
	p := newPruner(t, pool, eventstore.PrunerConfig{BatchSize: 3, Metrics: m})
	before := time.Now()
	res, err := p.PruneOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := eventstore.PruneResult{
		Inbox:       eventstore.TableResult{Rows: 10, Batches: 4}, // 3+3+3+1
		Idempotency: eventstore.TableResult{Rows: 9, Batches: 4},  // 3+3+3+0
	}
	if res != want {
		t.Fatalf("PruneOnce = %+v, want %+v", res, want)
	}
	for _, table := range []string{"inbox", "idempotency_keys"} {
		if n := count(t, pool, table); n != 4 {
			t.Errorf("%s keeps %d rows, want the 4 within the retention", table, n)
		}
	}
	checkPrunedMetrics(t, reg, 10, 9)
	if last := testutil.ToFloat64(m.LastSuccess); last < float64(before.Unix()) {
		t.Errorf("last success = %v, want at least %d", last, before.Unix())
	}
	res, err = p.PruneOnce(context.Background())
	idle := eventstore.TableResult{Rows: 0, Batches: 1}
	if err != nil || res != (eventstore.PruneResult{Inbox: idle, Idempotency: idle}) {
		t.Fatalf("second PruneOnce = %+v, %v; want one empty batch per table", res, err)
	}
	checkPrunedMetrics(t, reg, 10, 9)
}

// checkPrunedMetrics compares shopflow_pruned_rows_total as registered on reg.
func checkPrunedMetrics(t testing.TB, reg *prometheus.Registry, inbox, idempotency int) {
	t.Helper()
	want := `# HELP shopflow_pruned_rows_total Rows deleted by retention, by table: inbox or idempotency_keys.
# TYPE shopflow_pruned_rows_total counter
shopflow_pruned_rows_total{pruner="default",table="idempotency_keys"} ` + strconv.Itoa(idempotency) + `
shopflow_pruned_rows_total{pruner="default",table="inbox"} ` + strconv.Itoa(inbox) + `
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shopflow_pruned_rows_total"); err != nil {
		t.Error(err)
	}
}

func TestPruneRetentionPerTable(t *testing.T) {
	pool := testenv.NewEventStore(t).Pool
	insertAged(t, pool, "inbox", "old", 1, 2*time.Hour)
	insertAged(t, pool, "inbox", "new", 1, 0)
	insertAged(t, pool, "idempotency_keys", "inside", 1, 2*day)
	insertAged(t, pool, "idempotency_keys", "old", 1, 31*day)
	p := newPruner(t, pool, eventstore.PrunerConfig{InboxRetention: time.Hour, IdempotencyRetention: 30 * day})
	res, err := p.PruneOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Inbox.Rows != 1 || res.Idempotency.Rows != 1 {
		t.Fatalf("PruneOnce = %+v, want one row of each table", res)
	}
	var left []string
	rows, err := pool.Query(context.Background(),
		`SELECT message_id FROM inbox UNION ALL SELECT key FROM idempotency_keys ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		left = append(left, id)
	}
	if err := rows.Err(); err != nil || strings.Join(left, ",") != "inside-1,new-1" {
		t.Fatalf("rows left = %v (%v), want inside-1,new-1", left, err)
	}
}

// Two pruners (of different names, as two instances could be) on one database: while one
// is inside its pass, the other's pass is skipped and deletes nothing. The first pruner is
// held inside its pass by a row lock on the oldest inbox row, which its first DELETE waits
// for while it holds the pruning lock.
func TestPruneOneInstanceAtATime(t *testing.T) {
	pool := testenv.NewEventStore(t).Pool
	ctx := context.Background()
	insertAged(t, pool, "inbox", "old", 10, 8*day)
	insertAged(t, pool, "idempotency_keys", "old", 10, 8*day)
	blocker, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx)
	if _, err := blocker.Exec(ctx, `SELECT 1 FROM inbox WHERE message_id = 'old-10' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	a := newPruner(t, pool, eventstore.PrunerConfig{Name: "a", BatchSize: 3})
	b := newPruner(t, pool, eventstore.PrunerConfig{Name: "b", BatchSize: 3})
	type outcome struct {
		res eventstore.PruneResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := a.PruneOnce(ctx)
		done <- outcome{res, err}
	}()
	waitForLockWait(t, pool, "DELETE FROM inbox")
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := b.PruneOnce(bctx)
	if err != nil || res != (eventstore.PruneResult{Skipped: true}) {
		t.Fatalf("second pruner during the first one's pass: %+v, %v; want skipped", res, err)
	}
	if err := blocker.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.err != nil || got.res.Inbox.Rows != 10 || got.res.Idempotency.Rows != 10 {
		t.Fatalf("first pruner: %+v, %v; want every old row", got.res, got.err)
	}
	if res, err := b.PruneOnce(ctx); err != nil || res.Skipped {
		t.Fatalf("second pruner after the first one's pass: %+v, %v; want a pass", res, err)
	}
}

// waitForLockWait waits until a backend of pool's database running a query that starts
// with prefix waits for a lock.
func waitForLockWait(t testing.TB, pool *pgxpool.Pool, prefix string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1 || '%'`,
			prefix).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no query %q waits for a lock", prefix)
}

func TestPrunerRunPrunesUntilCancelled(t *testing.T) {
	pool := testenv.NewEventStore(t).Pool
	p := newPruner(t, pool, eventstore.PrunerConfig{Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for round := range 2 { // pruned by the first pass, then by a later one
		insertAged(t, pool, "inbox", "old"+strconv.Itoa(round), 5, 8*day)
		waitUntil(t, func() bool { return count(t, pool, "inbox") == 0 }, "Run prunes the inbox")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// Run ends with an error when a pass fails, here because the database has no schema.
func TestPrunerRunFailsWithoutSchema(t *testing.T) {
	p := newPruner(t, testenv.Pool(t), eventstore.PrunerConfig{Interval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.Run(ctx)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "inbox") {
		t.Fatalf("Run on a database without tables = %v, want the inbox's error at once", err)
	}
}

func waitUntil(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An idle pass is one index probe per table, even under a generic plan (which pgx's cached
// statements get, and which the relay's pending check once turned into a sequential scan).
// The pool has one connection, so the test reads the statistics of the pruner's backend.
func TestPruneIdlePassUsesTheIndexes(t *testing.T) {
	pool := testenv.NewEventStore(t, "pool_max_conns=1", "plan_cache_mode=force_generic_plan").Pool
	ctx := context.Background()
	insertAged(t, pool, "inbox", "new", 20_000, 0)
	insertAged(t, pool, "idempotency_keys", "new", 20_000, 0)
	if _, err := pool.Exec(ctx, `ANALYZE inbox, idempotency_keys`); err != nil {
		t.Fatal(err)
	}
	before := indexScans(t, pool)
	p := newPruner(t, pool, eventstore.PrunerConfig{})
	for range 3 {
		res, err := p.PruneOnce(ctx)
		if err != nil || res.Inbox.Rows+res.Idempotency.Rows != 0 {
			t.Fatalf("PruneOnce = %+v, %v; want nothing deleted", res, err)
		}
	}
	after := indexScans(t, pool)
	for _, idx := range []string{"inbox_processed_at", "idempotency_keys_created_at"} {
		if after[idx]-before[idx] != 3 {
			t.Errorf("%s: %d index scans in 3 passes, want 3", idx, after[idx]-before[idx])
		}
	}
	for _, table := range []string{"inbox", "idempotency_keys"} {
		if after[table]-before[table] != 0 {
			t.Errorf("%s: %d sequential scans in 3 passes, want none", table, after[table]-before[table])
		}
	}
}

// indexScans returns idx_scan of the retention indexes and seq_scan of their tables, after
// flushing this backend's pending statistics.
func indexScans(t testing.TB, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT indexrelname, idx_scan FROM pg_stat_user_indexes
			WHERE indexrelname IN ('inbox_processed_at', 'idempotency_keys_created_at')
		UNION ALL SELECT relname, seq_scan FROM pg_stat_user_tables WHERE relname IN ('inbox', 'idempotency_keys')`)
	if err != nil {
		t.Fatal(err)
	}
	scans := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		scans[name] = n
	}
	if err := rows.Err(); err != nil || len(scans) != 4 {
		t.Fatalf("scan statistics %v: %v", scans, err)
	}
	return scans
}

func TestRetentionIndexesMigrateDownAndUp(t *testing.T) {
	es := testenv.NewEventStore(t)
	indexes := func() int {
		var n int
		err := es.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_indexes
			WHERE indexname IN ('inbox_processed_at', 'idempotency_keys_created_at')`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := indexes(); n != 2 {
		t.Fatalf("%d retention indexes after Migrate, want 2", n)
	}
	if err := eventstore.MigrateTo(es.URL, 3); err != nil {
		t.Fatal(err)
	}
	if n := indexes(); n != 0 {
		t.Fatalf("%d retention indexes after migrating down to 3, want 0", n)
	}
	if err := eventstore.Migrate(es.URL); err != nil {
		t.Fatal(err)
	}
	if n := indexes(); n != 2 {
		t.Fatalf("%d retention indexes after migrating up again, want 2", n)
	}
}

func TestNewPrunerRefusesBadConfig(t *testing.T) {
	_, err := eventstore.NewPruner(nil, eventstore.PrunerConfig{
		Retention: -1, InboxRetention: -time.Hour, IdempotencyRetention: -time.Hour, BatchSize: -1, Interval: -1,
	})
	if err == nil {
		t.Fatal("NewPruner accepted a nil pool and negative settings")
	}
	for _, name := range []string{"nil pool", "pruner: Retention", "InboxRetention", "IdempotencyRetention", "BatchSize", "Interval"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
