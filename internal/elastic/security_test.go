package elastic

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/shopflow/shopflow/internal/securelink"
)

// The local Elasticsearch build cannot turn security on (no x-pack), so the client's
// credentials and CA file are checked here against an HTTPS server that answers the
// cluster health as a secured node does; cmd/shopflow's TestServeOverSecuredLinks runs
// serve against the real node behind an HTTPS proxy that wants an API key.
func TestClientSendsCredentialsAndVerifiesTheNode(t *testing.T) {
	var got string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		if got != "APIKey aWQ6a2V5" && got != "Basic ZWxhc3RpYzpzM2NyZXQ=" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"green"}`)
	}))
	defer srv.Close()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	keyFile := filepath.Join(dir, "api-key")
	os.WriteFile(keyFile, []byte("aWQ6a2V5\n"), 0o600)
	check := func(sec Security) error {
		cl, err := NewClient([]string{srv.URL}, sec)
		if err != nil {
			t.Fatal(err)
		}
		return Check(context.Background(), cl, []string{srv.URL})
	}
	trusted := securelink.TLS{CAFile: ca}
	for name, sec := range map[string]Security{
		"api key":      {APIKey: "aWQ6a2V5", TLS: trusted},
		"api key file": {APIKeyFile: keyFile, TLS: trusted},
		"basic":        {Username: "elastic", Password: "s3cret", TLS: trusted},
	} {
		if err := check(sec); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := check(Security{APIKey: "d3Jvbmc=", TLS: trusted}); !errors.Is(err, securelink.ErrCredentialsRefused) {
		t.Errorf("wrong key: %v", err)
	}
	if err := check(Security{APIKey: "aWQ6a2V5"}); !errors.Is(err, securelink.ErrUntrustedCertificate) {
		t.Errorf("system roots: %v", err)
	}
	if _, err := NewClient([]string{srv.URL}, Security{APIKey: "k", Username: "u", Password: "p"}); err == nil {
		t.Error("API key and basic auth together accepted")
	}
}
