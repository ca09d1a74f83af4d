package config

import (
	"strings"
	"testing"
)

func TestLoadDefaultsAreValid(t *testing.T) {
	cfg, err := Load()
	if err != nil {
		t.Fatalf("Load with defaults: %v", err)
	}
	if got := cfg.DatabaseURL("inventory"); !strings.HasSuffix(got, "/inventory") {
		t.Errorf("inventory database URL = %q", got)
	}
}

func TestLoadNamesEveryBadSetting(t *testing.T) {
	t.Setenv("SHOPFLOW_HTTP_ADDR", "nope")
	t.Setenv("SHOPFLOW_CONTEXTS", "orders,shipping")
	t.Setenv("SHOPFLOW_PAYMENTS_DATABASE_URL", "mysql://x/payments")
	t.Setenv("SHOPFLOW_KAFKA_PARTITIONS", "0")
	t.Setenv("SHOPFLOW_ES_URLS", "localhost:9200")
	_, err := Load()
	if err == nil {
		t.Fatal("Load accepted bad settings")
	}
	for _, name := range []string{"SHOPFLOW_HTTP_ADDR", "SHOPFLOW_CONTEXTS", "SHOPFLOW_PAYMENTS_DATABASE_URL",
		"SHOPFLOW_KAFKA_PARTITIONS", "SHOPFLOW_ES_URLS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestLoadRejectsUnparsableValue(t *testing.T) {
	t.Setenv("SHOPFLOW_SHUTDOWN_TIMEOUT", "soon")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "SHOPFLOW_SHUTDOWN_TIMEOUT") {
		t.Fatalf("want an error naming SHOPFLOW_SHUTDOWN_TIMEOUT, got %v", err)
	}
}
