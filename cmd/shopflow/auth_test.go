package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/config"
)

// serve refuses to start without an issuer, unless authentication is switched off, and
// then it warns.
func TestServeNeedsAnIssuerOrAuthSwitchedOff(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	if _, err := authenticator(context.Background(), config.Auth{Audience: "shopflow"}, log); err == nil ||
		!strings.Contains(err.Error(), "SHOPFLOW_AUTH_ISSUER") {
		t.Fatalf("no issuer: %v", err)
	}
	v, err := authenticator(context.Background(), config.Auth{Audience: "shopflow", Disabled: true}, log)
	if err != nil || v != nil {
		t.Fatalf("auth off: %v, %v", v, err)
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "authentication is OFF") {
		t.Fatalf("no warning: %s", logs.String())
	}
	if _, err := authenticator(context.Background(), config.Auth{Issuer: "x", Audience: "shopflow", Disabled: true}, log); err == nil {
		t.Fatal("issuer and auth off together accepted")
	}
}

// `shopflow auth init-local` and `shopflow token` make a token the local process trusts.
func TestTokenCommandMintsATrustedToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	var out bytes.Buffer
	if err := authInit([]string{"init-local", dir}, &out); err != nil {
		t.Fatal(err)
	}
	cfg := config.Auth{Audience: auth.DefaultAudience, SigningKey: filepath.Join(dir, auth.SigningKeyFile)}
	out.Reset()
	if err := token(config.Config{Auth: cfg}, []string{"--customer", "c-7", "--role", "read", "--ttl", "5m"}, &out); err != nil {
		t.Fatal(err)
	}
	cfg.Issuer, cfg.JWKSFile = auth.LocalIssuer, filepath.Join(dir, auth.JWKSFile)
	v, err := auth.NewVerifier(context.Background(), cfg.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), strings.TrimSpace(out.String()))
	if err != nil || p.CustomerID != "c-7" || !p.Has(auth.ScopeRead) || !p.Has(auth.ScopeCustomer) {
		t.Fatalf("token: %+v, %v", p, err)
	}
	if err := token(config.Config{Auth: cfg}, []string{"--role", "superuser"}, &out); err == nil {
		t.Fatal("unknown role accepted")
	}
}
