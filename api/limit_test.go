package api_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/health"
)

// boundedOrders serves the orders write API on a fresh database under opts, with its
// metrics on the returned registry.
func boundedOrders(t testing.TB, opts api.WriteOptions) (*writeAPI, *prometheus.Registry) {
	t.Helper()
	d := newDB(t)
	reg := prometheus.NewRegistry()
	opts.Registry = reg
	e := api.New(withAuth(api.Options{Log: slog.New(slog.DiscardHandler), Health: health.NewChecker(time.Second), Registry: reg}))
	h := &api.OrderCommands{Keys: command.NewIdempotencyKeys(d.store),
		PlaceOrder:  must(command.NewPlaceOrderHandler(d.store, command.Config{}))(t),
		CancelOrder: must(command.NewCancelOrderHandler(d.store, command.Config{}))(t)}
	if err := api.RegisterWriteRoutes(e, api.WriteHandlers{Orders: h, Options: opts}); err != nil {
		t.Fatal(err)
	}
	return &writeAPI{e: e, ordersDB: d}, reg
}

// lockEvents holds a lock on the events table that makes every append wait, until the
// returned function releases it.
func lockEvents(t testing.TB, d db) (release func()) {
	t.Helper()
	tx, err := d.pool.Begin(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx(t), `LOCK TABLE events IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(ctx(t)) }) }
	t.Cleanup(release)
	return release
}

// placeBody is a valid order placement.
func placeBody() string {
	return fmt.Sprintf(`{"customer_id":%q,"lines":[{"product_id":%q,"quantity":1}]}`, uuid.NewString(), uuid.NewString())
}

// waitingForLock returns how many transactions wait for a lock on the events table.
func waitingForLock(t testing.TB, d db) int {
	t.Helper()
	var n int
	err := d.pool.QueryRow(ctx(t), `SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'events'::regclass`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// postWithin places an order and fails the test if the answer takes longer than d; then
// it calls release (of the lock the request waits for) and waits for the answer.
func postWithin(t testing.TB, w *writeAPI, body string, d time.Duration, release func()) *httptest.ResponseRecorder {
	t.Helper()
	answered := make(chan *httptest.ResponseRecorder, 1)
	start := time.Now()
	go func() { answered <- w.post("/v1/orders", body) }()
	select {
	case rec := <-answered:
		return rec
	case <-time.After(d):
		t.Errorf("no answer after %s", time.Since(start))
		release()
		return <-answered
	}
}

// gauge returns the value of an unlabelled gauge of reg.
func gauge(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// TestCommandsPastTheBoundAre503: with the bound of commands in flight taken by commands
// that wait for a lock, further commands are answered 503 with Retry-After at once while
// the operational routes still answer; the waiting commands complete and are stored.
func TestCommandsPastTheBoundAre503(t *testing.T) {
	w, reg := boundedOrders(t, api.WriteOptions{MaxInFlight: 2, Timeout: time.Minute})
	release := lockEvents(t, w.ordersDB)
	blocked := make([]*httptest.ResponseRecorder, 2)
	var wg sync.WaitGroup
	for i := range blocked {
		wg.Go(func() { blocked[i] = w.post("/v1/orders", placeBody()) })
	}
	eventually(t, 10*time.Second, func() bool { return waitingForLock(t, w.ordersDB) == 2 })

	for i := range 5 {
		start := time.Now()
		rec := postWithin(t, w, placeBody(), 2*time.Second, release)
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Errorf("request %d past the bound answered after %s", i, took)
		}
		wantUnavailable(t, rec)
		if got := rec.Header().Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After = %q, want 1", got)
		}
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		rec := httptest.NewRecorder()
		serve(w.e, rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s while saturated: %d", path, rec.Code)
		}
	}
	release()
	wg.Wait()
	for _, rec := range blocked {
		res := wantResult(t, rec, http.StatusAccepted)
		if n := len(w.ordersDB.events(t, "order-"+res.ID)); n != 1 {
			t.Errorf("order %s answered 202 has %d events", res.ID, n)
		}
	}
	if n := w.ordersDB.countEvents(t); n != 2 {
		t.Errorf("%d events stored, want the 2 accepted orders", n)
	}
	rejected := counter(t, reg, "shopflow_commands_rejected_total", "overloaded")
	if rejected != 5 || gauge(t, reg, "shopflow_commands_in_flight") != 0 {
		t.Errorf("rejected %v, in flight %v; want 5, 0", rejected, gauge(t, reg, "shopflow_commands_in_flight"))
	}
	wantResult(t, w.post("/v1/orders", placeBody()), http.StatusAccepted)
}

// counter returns the value of a counter of reg with one label of the given value.
func counter(t testing.TB, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if f.GetName() == name && len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return 0
}

// TestBurstPastTheBoundLosesNothing: a burst of concurrent commands, many more than the
// bound, gets only 202s and 503s, and every 202 is stored.
func TestBurstPastTheBoundLosesNothing(t *testing.T) {
	const clients = 40
	w, _ := boundedOrders(t, api.WriteOptions{MaxInFlight: 2, Timeout: time.Minute})
	recs := make([]*httptest.ResponseRecorder, clients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range recs {
		wg.Go(func() {
			<-start
			recs[i] = w.post("/v1/orders", placeBody())
		})
	}
	close(start)
	wg.Wait()
	accepted := 0
	for _, rec := range recs {
		if rec.Code == http.StatusServiceUnavailable {
			wantUnavailable(t, rec)
			continue
		}
		var res result
		if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &res) != nil {
			t.Fatalf("%d %s, want 202 or 503", rec.Code, rec.Body)
		}
		if n := len(w.ordersDB.events(t, "order-"+res.ID)); n != 1 {
			t.Errorf("order %s answered 202 has %d events", res.ID, n)
		}
		accepted++
	}
	if n := w.ordersDB.countEvents(t); n != accepted || accepted == 0 || accepted == clients {
		t.Errorf("%d of %d accepted, %d events stored; want some refused and every accepted one stored", accepted, clients, n)
	}
	t.Logf("%d of %d accepted", accepted, clients)
}

// TestCommandDeadlineAnswers503: a command that waits past its deadline (here for a lock)
// is answered 503 with Retry-After at its deadline, not when the lock is released.
func TestCommandDeadlineAnswers503(t *testing.T) {
	const timeout = 300 * time.Millisecond
	w, reg := boundedOrders(t, api.WriteOptions{Timeout: timeout})
	release := lockEvents(t, w.ordersDB)
	rec := postWithin(t, w, placeBody(), timeout+3*time.Second, release)
	release()
	wantUnavailable(t, rec)
	if unavailable := counter(t, reg, "shopflow_commands_rejected_total", "unavailable"); unavailable != 1 {
		t.Errorf("rejected{unavailable} = %v, want 1", unavailable)
	}
	wantResult(t, w.post("/v1/orders", placeBody()), http.StatusAccepted)
}
