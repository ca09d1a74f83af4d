package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/config"
	"github.com/shopflow/shopflow/internal/securelink"
	"github.com/shopflow/shopflow/internal/testenv"
)

// secureLinks is a serve configuration over secured links: the scratch Kafka (SASL_SSL) and
// Postgres (TLS only) of testenv.StartSecureServers, and the shared Elasticsearch behind
// an HTTPS proxy that wants an API key.
type secureLinks struct {
	shared *elasticsearch.Client // the shared Elasticsearch, directly
	srv    testenv.SecureServers
	esURL  string
	apiKey string
	keys   string // the local signing key's directory
}

// env is the environment of a serve that trusts the servers' CA and knows every
// credential; a case changes one variable of it.
func (l secureLinks) env(t *testing.T) map[string]string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	verify := "sslmode=verify-full&sslrootcert=" + l.srv.CAFile
	passfile := filepath.Join(t.TempDir(), "pgpass")
	host, port, _ := net.SplitHostPort(l.srv.PostgresAddr)
	line := fmt.Sprintf("%s:%s:inventory:%s:%s\n", host, port, l.srv.PostgresUser, l.srv.PostgresPassword)
	if err := os.WriteFile(passfile, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	apiKeyFile := filepath.Join(t.TempDir(), "es-api-key")
	if err := os.WriteFile(apiKeyFile, []byte(l.apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"SHOPFLOW_HTTP_ADDR": addr, "SHOPFLOW_NAMESPACE": strings.ToLower(testenv.Name("tls")),
		"SHOPFLOW_KAFKA_PARTITIONS": "1", "SHOPFLOW_INSTANCE_ID": "dynamic", "SHOPFLOW_STARTUP_TIMEOUT": "45s",
		"SHOPFLOW_AUTH_ISSUER": auth.LocalIssuer, "SHOPFLOW_AUTH_JWKS_FILE": filepath.Join(l.keys, auth.JWKSFile),
		"SHOPFLOW_AUTH_SIGNING_KEY": filepath.Join(l.keys, auth.SigningKeyFile),
		// The password in the URL, in a passfile, in the URL.
		"SHOPFLOW_ORDERS_DATABASE_URL":    l.srv.DatabaseURL("orders", l.srv.PostgresPassword, verify),
		"SHOPFLOW_INVENTORY_DATABASE_URL": l.srv.DatabaseURL("inventory", "", verify+"&passfile="+passfile),
		"SHOPFLOW_PAYMENTS_DATABASE_URL":  l.srv.DatabaseURL("payments", l.srv.PostgresPassword, verify),
		"SHOPFLOW_KAFKA_BROKERS":          l.srv.KafkaBroker, "SHOPFLOW_KAFKA_TLS_CA_FILE": l.srv.CAFile,
		"SHOPFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "SHOPFLOW_KAFKA_SASL_USERNAME": l.srv.KafkaUser,
		"SHOPFLOW_KAFKA_SASL_PASSWORD_FILE": l.srv.KafkaPasswordFile,
		"SHOPFLOW_ES_URLS":                  l.esURL, "SHOPFLOW_ES_API_KEY_FILE": apiKeyFile, "SHOPFLOW_ES_CA_FILE": l.srv.CAFile,
		"OTEL_SDK_DISABLED": "true",
	}
}

// load sets env (with the changes applied; "" unsets a variable) and loads the
// configuration from it, as `shopflow serve` does.
func load(t *testing.T, env map[string]string, changes map[string]string) config.Config {
	t.Helper()
	for k, v := range changes {
		env[k] = v
	}
	for k, v := range env {
		t.Setenv(k, v)
		if v == "" {
			os.Unsetenv(k)
		}
	}
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// serve over secured links starts when it trusts every server's certificate and knows
// every credential (an order is confirmed: the saga ran over Kafka, the read model came
// from Elasticsearch), and refuses to start, naming the server and the cause, when one
// password is wrong or one certificate is not trusted.
func TestServeOverSecuredLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts scratch Kafka and Postgres servers")
	}
	l := secureLinks{shared: testenv.Elastic(t), srv: testenv.StartSecureServers(t), apiKey: "c2hvcGZsb3c6dGVzdC1rZXk="}
	l.esURL = testenv.SecureElasticProxy(t, l.srv.ServerCertFile, l.srv.ServerKeyFile, l.apiKey)
	l.keys = filepath.Join(t.TempDir(), "auth")
	if err := authInit([]string{"init-local", l.keys}, io.Discard); err != nil {
		t.Fatal(err)
	}
	t.Run("trusted_and_right_credentials", func(t *testing.T) { l.orderIsConfirmed(t) })
	wrongKafkaPassword := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrongKafkaPassword, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		changes map[string]string
		want    error
		says    []string
	}{
		{"postgres_wrong_password", map[string]string{"SHOPFLOW_ORDERS_DATABASE_URL": l.srv.DatabaseURL("orders", "wrong", "sslmode=verify-full&sslrootcert="+l.srv.CAFile)},
			securelink.ErrCredentialsRefused, []string{"orders database", l.srv.PostgresAddr, "password authentication failed", "check the user and password"}},
		{"postgres_untrusted_certificate", map[string]string{"SHOPFLOW_ORDERS_DATABASE_URL": l.srv.DatabaseURL("orders", l.srv.PostgresPassword, "sslmode=verify-full&sslrootcert="+l.srv.OtherCAFile)},
			securelink.ErrUntrustedCertificate, []string{"orders database", l.srv.PostgresAddr, "not signed by a trusted certificate authority", "sslrootcert"}},
		{"postgres_without_tls", map[string]string{"SHOPFLOW_ORDERS_DATABASE_URL": l.srv.DatabaseURL("orders", l.srv.PostgresPassword, "sslmode=disable")},
			securelink.ErrCredentialsRefused, []string{"orders database", "no pg_hba.conf entry", "sslmode"}},
		{"kafka_wrong_password", map[string]string{"SHOPFLOW_KAFKA_SASL_PASSWORD_FILE": wrongKafkaPassword},
			securelink.ErrCredentialsRefused, []string{"kafka at " + l.srv.KafkaBroker, "SASL_AUTHENTICATION_FAILED", "SHOPFLOW_KAFKA_SASL_PASSWORD"}},
		{"kafka_untrusted_certificate", map[string]string{"SHOPFLOW_KAFKA_TLS_CA_FILE": l.srv.OtherCAFile},
			securelink.ErrUntrustedCertificate, []string{"kafka at " + l.srv.KafkaBroker, "not signed by a trusted certificate authority", "SHOPFLOW_KAFKA_TLS_CA_FILE"}},
		{"kafka_wrong_server_name", map[string]string{"SHOPFLOW_KAFKA_TLS_SERVER_NAME": "kafka.example.com"},
			securelink.ErrUntrustedCertificate, []string{"kafka at " + l.srv.KafkaBroker, "not valid for the name", "kafka.example.com"}},
		{"elasticsearch_wrong_api_key", map[string]string{"SHOPFLOW_ES_API_KEY_FILE": "", "SHOPFLOW_ES_API_KEY": "d3Jvbmc6a2V5"},
			securelink.ErrCredentialsRefused, []string{"elasticsearch at " + l.esURL, "401", "SHOPFLOW_ES_API_KEY"}},
		{"elasticsearch_untrusted_certificate", map[string]string{"SHOPFLOW_ES_CA_FILE": l.srv.OtherCAFile},
			securelink.ErrUntrustedCertificate, []string{"elasticsearch at " + l.esURL, "not signed by a trusted certificate authority", "SHOPFLOW_ES_CA_FILE"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := l.serveFails(t, c.changes)
			if !errors.Is(err, c.want) {
				t.Errorf("serve: %v\nwant an error wrapping %q", err, c.want)
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("serve: %v\nwant it to say %q", err, s)
				}
			}
		})
	}
}

// orderIsConfirmed runs serve over the secured links and places an order that the saga
// confirms and the read model shows.
func (l secureLinks) orderIsConfirmed(t *testing.T) {
	cfg := load(t, l.env(t), nil)
	var tok bytes.Buffer
	if err := token(cfg, []string{"--role", "all"}, &tok); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	done, stopped := make(chan error, 1), make(chan struct{})
	var serveErr error
	go func() {
		defer close(stopped)
		serveErr = serve(ctx, cfg, log)
		done <- serveErr
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
		if serveErr != nil {
			t.Errorf("serve: %v", serveErr)
		}
		deleteIndices(t, l.shared, cfg.IndexPrefix())
	})
	s := &e2e{t: t, base: "http://" + cfg.HTTPAddr, token: strings.TrimSpace(tok.String())}
	s.waitReady(done)
	var product, customer, placed struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
	}
	s.do("POST", "/v1/products", `{"sku":"TLS-1","name":"Padlock","price_cents":900,"currency":"EUR","initial_stock":3}`, &product)
	s.do("POST", "/v1/customers", `{"name":"Eve","email":"eve@example.com"}`, &customer)
	s.do("POST", "/v1/customers/"+customer.ID+"/deposits", `{"amount_cents":5000}`, nil)
	s.do("POST", "/v1/orders", fmt.Sprintf(`{"customer_id":%q,"lines":[{"product_id":%q,"quantity":2}]}`, customer.ID, product.ID), &placed)
	var doc struct {
		Status     string `json:"status"`
		TotalCents int64  `json:"total_cents"`
	}
	deadline := time.Now().Add(2 * time.Minute)
	for doc.Status != "confirmed" {
		s.do("GET", fmt.Sprintf("/v1/orders/%s?min_version=%d&wait=10s", placed.ID, placed.Version), "", &doc)
		if doc.Status != "pending" && doc.Status != "confirmed" {
			t.Fatalf("order became %s", doc.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("order still %s after 2 minutes", doc.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if doc.TotalCents != 1800 {
		t.Fatalf("confirmed order total %d, want 1800", doc.TotalCents)
	}
}

// serveFails runs serve with the changes and returns its error; it must return one, and
// before the start-up timeout plus a margin (it must not hang waiting).
func (l secureLinks) serveFails(t *testing.T, changes map[string]string) error {
	t.Helper()
	cfg := load(t, l.env(t), changes)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil))) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("serve returned no error")
		}
		t.Logf("serve: %v", err)
		return err
	case <-time.After(cfg.StartupTimeout + time.Minute):
		cancel()
		t.Fatalf("serve still running %s after its start", cfg.StartupTimeout+time.Minute)
	}
	return nil
}

// deleteIndices removes the read models' indices of a namespace from the shared Elasticsearch.
func deleteIndices(t *testing.T, es *elasticsearch.Client, prefix string) {
	if prefix == "" {
		return
	}
	res, err := es.Indices.Delete([]string{prefix + "*"})
	if err != nil {
		t.Logf("delete indices %s*: %v", prefix, err)
		return
	}
	res.Body.Close()
}
