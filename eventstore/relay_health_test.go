package eventstore_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/health"
	"github.com/shopflow/shopflow/internal/postgres"
	"github.com/shopflow/shopflow/internal/supervisor"
	"github.com/shopflow/shopflow/internal/testenv"
)

// When a relay's database goes away, /readyz turns red with the relay's reason while the
// process keeps running, and green again once the relay publishes again: a worker's state
// is part of readiness, not only the dependencies' pings.
func TestReadinessFollowsTheRelayThroughAnOutage(t *testing.T) {
	s, _, dbURL := newStore(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewTCPProxy(t, u.Host)
	u.Host = proxy.Addr()
	pool, err := postgres.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	topic := testenv.Topics(t, 1, "relay_health")[0]
	relay, err := eventstore.NewRelay(pool, testenv.Kafka(t, eventstore.RelayProducerOpts()...),
		eventstore.RelayConfig{Topic: topic, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sup := supervisor.New(supervisor.Config{})
	sup.Add("relay", relay.Run, relay.Health)
	ready := readyz(t, sup)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sup.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor(t, func() bool { return ready() == "" })
	proxy.Cut()
	waitFor(t, func() bool { return ready() != "" })
	t.Logf("while the database is away: %s", ready())
	proxy.Restore()
	waitFor(t, func() bool { return ready() == "" })
	if _, err := s.Append(context.Background(), "s-1", "t", 0, ev("E", 1)); err != nil {
		t.Fatal(err)
	}
	consume(t, topic, 1, 30*time.Second)
}

// readyz serves the supervisor's checks on /readyz as shopflow serve does and returns a
// probe: "" while it answers 200, else the relay check's error.
func readyz(t *testing.T, sup *supervisor.Supervisor) func() string {
	h := health.NewChecker(time.Second)
	for name, check := range sup.Checks() {
		h.Add(name, check)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(api.New(api.Options{Log: log, Health: h, Registry: prometheus.NewRegistry()}))
	t.Cleanup(srv.Close)
	return func() string {
		res, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var rep health.Report
		if err := json.NewDecoder(res.Body).Decode(&rep); err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == http.StatusOK && rep.Ready {
			return ""
		}
		return rep.Checks["relay"].Error + " "
	}
}
