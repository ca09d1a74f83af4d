package eventstore_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/testenv"
)

// preload fills the events table with n already-published events (the cursor is placed
// after them), so the relay's queries run against a table of a realistic size.
func preload(t *testing.T, pool *pgxpool.Pool, topic string, n int) {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `INSERT INTO events (stream_id, stream_type, version, event_id, event_type, payload)
		SELECT 'old-' || g, 'old', 1, gen_random_uuid(), 'Old', '{}' FROM generate_series(1, $1) g`, n)
	if err == nil {
		_, err = pool.Exec(ctx, `INSERT INTO relay_cursors (name, transaction_id, position)
			SELECT $1, max(transaction_id::text::bigint)::text::xid8, max(position) FROM events`, topic)
	}
	if err == nil {
		_, err = pool.Exec(ctx, `ANALYZE events`)
	}
	if err != nil {
		t.Fatalf("preload: %v", err)
	}
}

// The relay's check for pending events must stay an index scan under the generic plan
// Postgres gives a prepared statement after five executions: EXISTS (…) became a
// sequential scan of the whole table, run back to back by an idle relay.
func TestRelayPendingCheckUsesTheIndexUnderAGenericPlan(t *testing.T) {
	_, pool, _ := newStore(t)
	preload(t, pool, "unused", 50_000)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, stmt := range []string{
		`SET plan_cache_mode = force_generic_plan`,
		`PREPARE pending(text, bigint) AS ` + eventstore.RelayPendingSQL,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	rows, err := conn.Query(ctx, `EXPLAIN EXECUTE pending('999999999', 999999999)`)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if strings.Contains(text, "Seq Scan") || !strings.Contains(text, "events_log_order") {
		t.Fatalf("generic plan of the pending check does not use events_log_order:\n%s", text)
	}
}

// A burst whose notifications arrive while the relay is busy must not leave the relay
// spinning: every notification means "look again", and one look answers them all. Within
// two seconds of the burst's end the relay is back to its idle rhythm (a fetch and a check
// per IdlePoll). Before the fix each buffered NOTIFY cost a round of its own, and each
// round's check was a sequential scan: minutes of two busy backends after a short burst.
func TestRelayIsIdleSoonAfterABurst(t *testing.T) {
	_, pool, _ := newStore(t)
	topic := testenv.Topics(t, 3, "relay_idle")[0]
	preload(t, pool, topic, 50_000)
	m := eventstore.NewRelayMetricVecs(nil).For("idle")
	startRelay(t, pool, topic, eventstore.RelayConfig{Metrics: m})
	waitFor(t, func() bool { return testutil.ToFloat64(m.Active) == 1 })
	written := burst(t, pool, 3*time.Second)
	end := time.Now()
	waitFor(t, func() bool { return testutil.ToFloat64(m.Published) >= float64(written) })
	time.Sleep(time.Until(end.Add(2 * time.Second)))
	queries := func() float64 { return testutil.ToFloat64(m.Fetches) + testutil.ToFloat64(m.PendingChecks) }
	before := queries()
	time.Sleep(3 * time.Second)
	// Idle: a fetch and a check per IdlePoll (1 s), so about six in 3 s; allow a few more.
	if n := queries() - before; n > 10 {
		t.Fatalf("%.0f relay queries in the 3 s from 2 s after a burst of %d events; an idle relay makes about 6", n, written)
	}
	t.Logf("burst of %d events; relay queries %.0f fetches, %.0f checks in all", written,
		testutil.ToFloat64(m.Fetches), testutil.ToFloat64(m.PendingChecks))
}

// burst appends single-event transactions from several writers for d, each followed by
// its own NOTIFY (as many as a busy service sends), and returns how many it wrote.
func burst(t *testing.T, pool *pgxpool.Pool, d time.Duration) int {
	t.Helper()
	ctx := context.Background()
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := range 8 {
		wg.Go(func() {
			for v := int64(1); time.Now().Before(stop); v++ {
				_, err := pool.Exec(ctx, `INSERT INTO events (stream_id, stream_type, version, event_id, event_type, payload)
					VALUES ('burst-' || $1::int, 'burst', $2, gen_random_uuid(), 'Burst', '{}')`, w, v)
				if err == nil {
					_, err = pool.Exec(ctx, `SELECT pg_notify($1, '')`, eventstore.NotifyChannel)
				}
				if err != nil {
					t.Errorf("burst: %v", err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return int(n.Load())
}
