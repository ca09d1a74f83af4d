package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/shopflow/internal/config"
	"github.com/shopflow/shopflow/internal/securelink"
	"github.com/shopflow/shopflow/internal/testenv"
)

// The projection workers are static group members like the reactors: without the instance
// id, a restarted process was not ready for 45 s (the dead members' session timeout).
func TestProjectionWorkersAreStaticMembers(t *testing.T) {
	cfg := config.Config{Contexts: []string{"orders"}, ReadModels: true, KafkaBrokers: []string{"127.0.0.1:9092"},
		KafkaSessionTimeout: 17 * time.Second}
	pcfg, err := projectionConfig(cfg, nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if pcfg.InstanceID == "" || pcfg.InstanceID != cfg.GroupInstanceID() {
		t.Fatalf("projections InstanceID = %q, want %q", pcfg.InstanceID, cfg.GroupInstanceID())
	}
	// and they are handed over after SHOPFLOW_KAFKA_SESSION_TIMEOUT when a process is lost
	if pcfg.SessionTimeout != cfg.KafkaSessionTimeout {
		t.Fatalf("projections SessionTimeout = %s, want %s", pcfg.SessionTimeout, cfg.KafkaSessionTimeout)
	}
}

// An Elasticsearch that is down at start-up must not keep the write API down: serve warns
// and starts (the read models wait for it, /readyz says so). One that refuses the
// credentials still stops the start, as a misconfiguration.
func TestServeStartsWhileElasticsearchIsDownButNotWhenItRefusesTheCredentials(t *testing.T) {
	testenv.Kafka(t) // the real Kafka must answer: serve creates its topics next
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"type":"security_exception"},"status":401}`))
	}))
	t.Cleanup(refusing.Close)
	for _, c := range config.Contexts {
		t.Setenv("SHOPFLOW_"+strings.ToUpper(c)+"_DATABASE_URL", testenv.Database(t))
	}
	t.Setenv("SHOPFLOW_READ_MODELS", "true")

	t.Run("down", func(t *testing.T) {
		t.Setenv("SHOPFLOW_ES_URLS", down)
		var logs bytes.Buffer
		start := time.Now()
		d, err := connect(context.Background(), testenv.Config(t), slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatalf("connect with Elasticsearch down: %v", err)
		}
		// /readyz says so, and a probe that excludes the read side (the Kubernetes
		// manifest's, for the processes that serve writes too) still finds the rest ready.
		h := d.checker(true)
		if rep := h.Run(context.Background()); rep.Ready || rep.Checks["elasticsearch"].Status != "down" {
			t.Errorf("with Elasticsearch down: %+v, want not ready, elasticsearch down", rep)
		}
		if rep := h.Run(context.Background(), "elasticsearch"); !rep.Ready {
			t.Errorf("Elasticsearch excluded: %+v, want ready on the real Postgres and Kafka", rep)
		}
		d.close()
		if !strings.Contains(logs.String(), "elasticsearch is not available") {
			t.Errorf("no warning logged:\n%s", logs.String())
		}
		t.Logf("started after %s", time.Since(start).Round(time.Millisecond))
	})
	t.Run("refusing", func(t *testing.T) {
		t.Setenv("SHOPFLOW_ES_URLS", refusing.URL)
		d, err := connect(context.Background(), testenv.Config(t), slog.New(slog.DiscardHandler))
		if err == nil {
			d.close()
			t.Fatal("connect accepted an Elasticsearch that refuses the credentials")
		}
		if !errors.Is(err, securelink.ErrCredentialsRefused) {
			t.Errorf("err = %v, want it to say the credentials were refused", err)
		}
	})
}
