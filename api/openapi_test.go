package api_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/console"
	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/projections"
)

type openAPIDoc struct {
	Paths map[string]map[string]any `yaml:"paths"`
}

// Every route the server registers is documented, and every documented route is served.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	var doc openAPIDoc
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	w := newWriteAPI(t)
	e := w.e
	reader, err := projections.NewReader(testenv.Elastic(t), projections.Config{Brokers: testenv.Config(t).KafkaBrokers})
	if err != nil {
		t.Fatal(err)
	}
	api.RegisterReadRoutes(e, reader)
	svc := newAdmin(t, w)
	pages, err := console.NewPages(svc, api.AdminAccessNote)
	if err != nil {
		t.Fatal(err)
	}
	api.RegisterAdminRoutes(e, svc, pages)
	param := regexp.MustCompile(`:([a-z_]+)`)
	served := map[string]bool{}
	for _, r := range e.Routes() {
		// The console's pages are HTML for browsers, described in the README; the admin
		// API they share a guard with is documented here.
		if !strings.HasPrefix(r.Path, "/") || r.Method == "echo_route_not_found" || strings.HasPrefix(r.Path, "/console") {
			continue
		}
		path := param.ReplaceAllString(r.Path, "{$1}")
		method := strings.ToLower(r.Method)
		served[method+" "+path] = true
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("%s %s is served but not documented", r.Method, path)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !served[method+" "+path] {
				t.Errorf("%s %s is documented but not served", method, path)
			}
		}
	}
	for path, doc := range map[string][]byte{"/openapi.yaml": api.OpenAPI, "/asyncapi.yaml": api.AsyncAPI} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil)) // public: no token
		if rec.Code != http.StatusOK || rec.Body.String() != string(doc) || len(doc) == 0 {
			t.Fatalf("GET %s: %d, %d bytes", path, rec.Code, rec.Body.Len())
		}
	}
	if !strings.Contains(string(api.AsyncAPI), "asyncapi: 3.0.0") {
		t.Error("GET /asyncapi.yaml does not serve the AsyncAPI document")
	}
}
