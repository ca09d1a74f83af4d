package config

import (
	"os"
	"strings"
	"testing"
	"time"
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

func TestCommandBounds(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := Load()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.MaxCommandsInFlight != 64 || cfg.CommandTimeout != 5*time.Second {
			t.Errorf("max in flight %d, timeout %s; want 64, 5s", cfg.MaxCommandsInFlight, cfg.CommandTimeout)
		}
	})
	t.Run("set", func(t *testing.T) {
		t.Setenv("SHOPFLOW_MAX_COMMANDS_IN_FLIGHT", "8")
		t.Setenv("SHOPFLOW_COMMAND_TIMEOUT", "1500ms")
		cfg, err := Load()
		if err != nil || cfg.MaxCommandsInFlight != 8 || cfg.CommandTimeout != 1500*time.Millisecond {
			t.Errorf("got %d, %s, %v; want 8, 1.5s", cfg.MaxCommandsInFlight, cfg.CommandTimeout, err)
		}
	})
	for _, tt := range []struct{ name, bound, timeout, want string }{
		{"zero bound", "0", "5s", "SHOPFLOW_MAX_COMMANDS_IN_FLIGHT"},
		{"negative bound", "-1", "5s", "SHOPFLOW_MAX_COMMANDS_IN_FLIGHT"},
		{"zero timeout", "64", "0s", "SHOPFLOW_COMMAND_TIMEOUT"},
		{"timeout past the drain", "64", "20s", "SHOPFLOW_COMMAND_TIMEOUT"},
		{"unparsable timeout", "64", "soon", "SHOPFLOW_COMMAND_TIMEOUT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SHOPFLOW_MAX_COMMANDS_IN_FLIGHT", tt.bound)
			t.Setenv("SHOPFLOW_COMMAND_TIMEOUT", tt.timeout)
			if _, err := Load(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("want an error naming %s, got %v", tt.want, err)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := Load()
		if err != nil || cfg.InboxRetention != 7*24*time.Hour || cfg.IdempotencyRetention != 7*24*time.Hour {
			t.Fatalf("got %s, %s, %v; want 168h each", cfg.InboxRetention, cfg.IdempotencyRetention, err)
		}
	})
	t.Run("set", func(t *testing.T) {
		t.Setenv("SHOPFLOW_INBOX_RETENTION", "36h")
		t.Setenv("SHOPFLOW_IDEMPOTENCY_RETENTION", "720h")
		cfg, err := Load()
		if err != nil || cfg.InboxRetention != 36*time.Hour || cfg.IdempotencyRetention != 720*time.Hour {
			t.Fatalf("got %s, %s, %v; want 36h, 720h", cfg.InboxRetention, cfg.IdempotencyRetention, err)
		}
	})
	for _, name := range []string{"SHOPFLOW_INBOX_RETENTION", "SHOPFLOW_IDEMPOTENCY_RETENTION"} {
		for _, value := range []string{"0s", "-1h", "a week"} {
			t.Run(name+"="+value, func(t *testing.T) {
				t.Setenv(name, value)
				if _, err := Load(); err == nil || !strings.Contains(err.Error(), name) {
					t.Fatalf("want an error naming %s, got %v", name, err)
				}
			})
		}
	}
}

func TestKafkaSessionTimeoutIsShorterThanTheSettlementDeadline(t *testing.T) {
	cfg, err := Load()
	if err != nil || cfg.KafkaSessionTimeout != 20*time.Second {
		t.Fatalf("default %s, %v; want 20s", cfg.KafkaSessionTimeout, err)
	}
	t.Setenv("SHOPFLOW_KAFKA_SESSION_TIMEOUT", "10s")
	if cfg, err := Load(); err != nil || cfg.KafkaSessionTimeout != 10*time.Second {
		t.Fatalf("set 10s: got %s, %v", cfg.KafkaSessionTimeout, err)
	}
	for _, c := range []struct{ session, deadline string }{{"5s", "30s"}, {"0s", "30s"}, {"30s", "30s"}, {"45s", "30s"}, {"10s", "8s"}} {
		t.Run(c.session+"/"+c.deadline, func(t *testing.T) {
			t.Setenv("SHOPFLOW_KAFKA_SESSION_TIMEOUT", c.session)
			t.Setenv("SHOPFLOW_SETTLEMENT_DEADLINE", c.deadline)
			if _, err := Load(); err == nil || !strings.Contains(err.Error(), "SHOPFLOW_KAFKA_SESSION_TIMEOUT") {
				t.Fatalf("want an error naming SHOPFLOW_KAFKA_SESSION_TIMEOUT, got %v", err)
			}
		})
	}
}

func TestGroupInstanceID(t *testing.T) {
	host, _ := os.Hostname()
	cfg := Config{Contexts: []string{"orders", "payments"}, ReadModels: true}
	if got, want := cfg.GroupInstanceID(), host+"/orders+payments/read-models"; got != want {
		t.Errorf("default: %q, want %q", got, want)
	}
	cfg.ReadModels = false
	if got, want := cfg.GroupInstanceID(), host+"/orders+payments"; got != want {
		t.Errorf("without read models: %q, want %q", got, want)
	}
	cfg.InstanceID = "shopflow-0"
	if got := cfg.GroupInstanceID(); got != "shopflow-0" {
		t.Errorf("explicit: %q", got)
	}
	cfg.InstanceID = DynamicMembership
	if got := cfg.GroupInstanceID(); got != "" {
		t.Errorf("dynamic: %q, want none", got)
	}
}

func TestPprofAddr(t *testing.T) {
	t.Setenv("SHOPFLOW_PPROF_ADDR", "6060")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "SHOPFLOW_PPROF_ADDR") {
		t.Fatalf("Load with SHOPFLOW_PPROF_ADDR=6060: %v, want an error naming it", err)
	}
	t.Setenv("SHOPFLOW_PPROF_ADDR", "127.0.0.1:6060")
	cfg, err := Load()
	if err != nil || cfg.PprofAddr != "127.0.0.1:6060" {
		t.Fatalf("Load: %+v, %v", cfg.PprofAddr, err)
	}
}

// A namespace starts every topic, group and index name; none leaves them as they were.
func TestNamespaceNamesEveryKafkaAndElasticsearchResource(t *testing.T) {
	plain, ns := Config{}, Config{Namespace: "e2e-7"}
	checks := []struct{ got, want string }{
		{plain.EventsTopic("orders"), "orders.events"},
		{ns.EventsTopic("orders"), "e2e-7.orders.events"},
		{ns.DeadLetterTopic("projections"), "e2e-7.projections.dlt"},
		{plain.SagaGroup("payments"), "shopflow.sagas.payments"},
		{ns.SagaGroup("payments"), "e2e-7.shopflow.sagas.payments"},
		{ns.ProjectionGroupPrefix(), "e2e-7.shopflow.projections."},
		{plain.IndexPrefix(), ""},
		{ns.IndexPrefix(), "e2e-7-"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	for _, topic := range ns.Topics() {
		if !strings.HasPrefix(topic, "e2e-7.") {
			t.Errorf("topic %q outside the namespace", topic)
		}
	}
	for _, bad := range []string{"Upper", "-lead", "has space", "a.b", strings.Repeat("x", 41)} {
		if err := (Config{Namespace: bad}).Validate(); err == nil || !strings.Contains(err.Error(), "SHOPFLOW_NAMESPACE") {
			t.Errorf("namespace %q: %v", bad, err)
		}
	}
}

func TestLinkSettingsAreChecked(t *testing.T) {
	dir := t.TempDir()
	ca := dir + "/ca.pem"
	if err := os.WriteFile(ca, []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("valid", func(t *testing.T) {
		t.Setenv("SHOPFLOW_ORDERS_DATABASE_URL", "postgres://shopflow:pw@db:5432/orders?sslmode=verify-full&sslrootcert="+ca)
		t.Setenv("SHOPFLOW_KAFKA_TLS_CA_FILE", ca)
		t.Setenv("SHOPFLOW_KAFKA_SASL_MECHANISM", "scram-sha-256")
		t.Setenv("SHOPFLOW_KAFKA_SASL_USERNAME", "shopflow")
		t.Setenv("SHOPFLOW_KAFKA_SASL_PASSWORD_FILE", ca)
		t.Setenv("SHOPFLOW_ES_API_KEY", "a2V5")
		t.Setenv("SHOPFLOW_ES_CA_FILE", ca)
		cfg, err := Load()
		if err != nil {
			t.Fatal(err)
		}
		sec := cfg.Kafka.Security()
		if sec.TLSFiles.CAFile != ca || sec.Username != "shopflow" || sec.PasswordFile != ca || cfg.Elasticsearch.Security().TLS.CAFile != ca {
			t.Fatalf("security settings not carried: %+v %+v", sec, cfg.Elasticsearch.Security())
		}
	})
	for name, c := range map[string]struct {
		env  map[string]string
		says []string
	}{
		"sasl without user or password": {map[string]string{"SHOPFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"},
			[]string{"SHOPFLOW_KAFKA_SASL_USERNAME", "SHOPFLOW_KAFKA_SASL_PASSWORD or SHOPFLOW_KAFKA_SASL_PASSWORD_FILE"}},
		"unknown mechanism": {map[string]string{"SHOPFLOW_KAFKA_SASL_MECHANISM": "PLAIN", "SHOPFLOW_KAFKA_SASL_USERNAME": "u",
			"SHOPFLOW_KAFKA_SASL_PASSWORD": "p"}, []string{"SHOPFLOW_KAFKA_SASL_MECHANISM: want SCRAM-SHA-256 or SCRAM-SHA-512"}},
		"credentials without mechanism": {map[string]string{"SHOPFLOW_KAFKA_SASL_USERNAME": "u"}, []string{"SHOPFLOW_KAFKA_SASL_MECHANISM: required"}},
		"password twice": {map[string]string{"SHOPFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "SHOPFLOW_KAFKA_SASL_USERNAME": "u",
			"SHOPFLOW_KAFKA_SASL_PASSWORD": "p", "SHOPFLOW_KAFKA_SASL_PASSWORD_FILE": ca}, []string{"set one, not both"}},
		"missing files": {map[string]string{"SHOPFLOW_KAFKA_TLS_CA_FILE": dir + "/nope", "SHOPFLOW_ES_CA_FILE": dir + "/nope",
			"SHOPFLOW_PAYMENTS_DATABASE_URL": "postgres://db/payments?sslmode=verify-full&sslrootcert=" + dir + "/nope"},
			[]string{"SHOPFLOW_KAFKA_TLS_CA_FILE", "SHOPFLOW_ES_CA_FILE", "SHOPFLOW_PAYMENTS_DATABASE_URL: sslrootcert"}},
		"client cert without key": {map[string]string{"SHOPFLOW_KAFKA_TLS_CERT_FILE": ca, "SHOPFLOW_ES_CERT_FILE": ca},
			[]string{"SHOPFLOW_KAFKA_TLS_CERT_FILE, SHOPFLOW_KAFKA_TLS_KEY_FILE", "SHOPFLOW_ES_CERT_FILE, SHOPFLOW_ES_KEY_FILE"}},
		"api key and basic auth": {map[string]string{"SHOPFLOW_ES_API_KEY": "k", "SHOPFLOW_ES_USERNAME": "u", "SHOPFLOW_ES_PASSWORD": "p"},
			[]string{"choose one way to authenticate"}},
		"user without password": {map[string]string{"SHOPFLOW_ES_USERNAME": "elastic"}, []string{"SHOPFLOW_ES_USERNAME, SHOPFLOW_ES_PASSWORD(_FILE)"}},
		"unknown sslmode": {map[string]string{"SHOPFLOW_ORDERS_DATABASE_URL": "postgres://u:secret@db/orders?sslmode=verify"},
			[]string{"SHOPFLOW_ORDERS_DATABASE_URL: sslmode=verify"}},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, err := Load()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not say %q: %v", s, err)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows a password: %v", err)
			}
		})
	}
}
