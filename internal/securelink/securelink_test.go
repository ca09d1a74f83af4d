package securelink

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCA writes the test server's certificate as a PEM CA file.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// otherCA writes a self-signed certificate that signed nothing the test servers present.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "someone else"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// get makes a TLS handshake with addr with the settings and returns the explained error.
func get(t *testing.T, addr string, files TLS) error {
	t.Helper()
	cfg, err := files.Config()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", addr, cfg)
	if err == nil {
		conn.Close()
	}
	return Explain(err, "check the CA file")
}

func TestExplainNamesTheTLSFailure(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer plain.Close()
	ca := writeCA(t, srv)
	addr := srv.Listener.Addr().String()
	if err := get(t, addr, TLS{CAFile: ca}); err != nil {
		t.Fatalf("trusted: %v", err)
	}
	for name, c := range map[string]struct {
		addr  string
		files TLS
		says  string
	}{
		"untrusted":    {addr, TLS{CAFile: otherCA(t)}, "not signed by a trusted certificate authority"},
		"system roots": {addr, TLS{}, "not signed by a trusted certificate authority"},
		"wrong name":   {addr, TLS{CAFile: ca, ServerName: "db.invalid"}, "not valid for the name connected to (db.invalid)"},
		"not TLS":      {plain.Listener.Addr().String(), TLS{CAFile: ca}, "does not speak TLS"},
	} {
		t.Run(name, func(t *testing.T) {
			err := get(t, c.addr, c.files)
			if !errors.Is(err, ErrUntrustedCertificate) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "check the CA file") {
				t.Fatalf("got %v, want ErrUntrustedCertificate saying %q and the hint", err, c.says)
			}
		})
	}
	if err := Explain(net.ErrClosed, "hint"); err != net.ErrClosed {
		t.Fatalf("an error of no TLS kind changed: %v", err)
	}
}

func TestConfigNamesTheBadFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, files := range map[string]TLS{
		"missing CA":   {CAFile: filepath.Join(dir, "nope.pem")},
		"not PEM":      {CAFile: notPEM},
		"cert not key": {CertFile: notPEM},
		"bad pair":     {CertFile: notPEM, KeyFile: notPEM},
	} {
		if _, err := files.Config(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cfg, err := TLS{ServerName: "kafka.internal"}.Config()
	if err != nil || cfg.MinVersion != tls.VersionTLS12 || cfg.ServerName != "kafka.internal" || cfg.RootCAs != nil {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
}

func TestSecretReadsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(path, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Secret("X_PASSWORD", "", path); err != nil || s != "s3cret" {
		t.Fatalf("from file: %q, %v", s, err)
	}
	if s, err := Secret("X_PASSWORD", "direct", ""); err != nil || s != "direct" {
		t.Fatalf("direct: %q, %v", s, err)
	}
	if _, err := Secret("X_PASSWORD", "direct", path); err == nil || !strings.Contains(err.Error(), "X_PASSWORD_FILE") {
		t.Fatalf("both: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := Secret("X_PASSWORD", "", empty); err == nil {
		t.Fatal("empty file accepted")
	}
}
