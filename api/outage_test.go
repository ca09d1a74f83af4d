package api_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/health"
	"github.com/shopflow/shopflow/internal/postgres"
	"github.com/shopflow/shopflow/internal/testenv"
)

// proxiedOrders serves the orders write API on a fresh database that it reaches through a
// proxy the test can cut. Its request log goes to the returned buffer.
func proxiedOrders(t testing.TB, opts api.WriteOptions) (*writeAPI, *testenv.TCPProxy, *syncBuffer) {
	t.Helper()
	dbURL := testenv.Database(t)
	if err := eventstore.Migrate(dbURL); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewTCPProxy(t, u.Host)
	u.Host = proxy.Addr()
	pool, err := postgres.Open(ctx(t), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := eventstore.New(pool)
	t.Cleanup(store.Close)
	logs := &syncBuffer{}
	e := api.New(withAuth(api.Options{Log: slog.New(slog.NewJSONHandler(logs, nil)), Health: health.NewChecker(time.Second),
		Registry: prometheus.NewRegistry()}))
	h := &api.OrderCommands{Keys: command.NewIdempotencyKeys(store),
		PlaceOrder:  must(command.NewPlaceOrderHandler(store, command.Config{}))(t),
		CancelOrder: must(command.NewCancelOrderHandler(store, command.Config{}))(t)}
	if err := api.RegisterWriteRoutes(e, api.WriteHandlers{Orders: h, Options: opts}); err != nil {
		t.Fatal(err)
	}
	return &writeAPI{e: e, ordersDB: db{store: store, pool: pool}}, proxy, logs
}

// wantUnavailable checks a 503 problem with a Retry-After of whole seconds.
func wantUnavailable(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	p := wantProblem(t, rec, http.StatusServiceUnavailable)
	if !strings.Contains(p.Detail, "retry later") {
		t.Errorf("detail = %q", p.Detail)
	}
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After = %q, want seconds", rec.Header().Get("Retry-After"))
	}
}

// TestPostgresOutageAnswers503: with Postgres unreachable, refusing connections or
// black-holing them, placing and cancelling orders answer 503 with Retry-After within the
// command deadline, never 500 and never a hang; once Postgres is back they succeed again.
func TestPostgresOutageAnswers503(t *testing.T) {
	const timeout = time.Second
	w, proxy, logs := proxiedOrders(t, api.WriteOptions{Timeout: timeout})
	for _, tt := range []struct {
		name   string
		outage func()
		within time.Duration
	}{
		{"connection refused", proxy.Cut, timeout / 2},
		{"black hole", proxy.Stall, timeout + time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			order := w.order(t)
			tt.outage()
			for path, body := range map[string]string{"/v1/orders": placeBody(), "/v1/orders/" + order + "/cancel": ""} {
				start := time.Now()
				rec := w.post(path, body)
				took := time.Since(start)
				if took > tt.within {
					t.Errorf("POST %s answered after %s, want within %s", path, took, tt.within)
				}
				wantUnavailable(t, rec)
				t.Logf("POST %s: %d after %s", path, rec.Code, took)
			}
			proxy.Restore()
			restored := time.Now()
			eventually(t, 5*time.Second, func() bool { return w.post("/v1/orders", placeBody()).Code == http.StatusAccepted })
			t.Logf("placing orders again %s after the restore", time.Since(restored))
			wantResult(t, w.post("/v1/orders/"+order+"/cancel", ""), http.StatusAccepted)
		})
	}
	if t.Failed() {
		t.Logf("request log:\n%s", logs)
	}
}

// eventually polls ok every 50 ms until it holds, failing the test after d.
func eventually(t testing.TB, d time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s", d)
		}
	}
}

// syncBuffer is a bytes.Buffer that handlers of concurrent requests may log to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
