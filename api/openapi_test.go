package api_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/shopflow/shopflow/api"
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
	e := newWriteAPI(t).e
	param := regexp.MustCompile(`:([a-z_]+)`)
	served := map[string]bool{}
	for _, r := range e.Routes() {
		if !strings.HasPrefix(r.Path, "/") || r.Method == "echo_route_not_found" {
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
			if !served[method+" "+path] && !isReadRoute(method, path) {
				t.Errorf("%s %s is documented but not served", method, path)
			}
		}
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != len(api.OpenAPI) {
		t.Fatalf("GET /openapi.yaml: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

// isReadRoute tells the query routes, which the read API serves (not registered here).
func isReadRoute(method, path string) bool { return method == "get" && strings.HasPrefix(path, "/v1/") }
