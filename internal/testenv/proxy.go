package testenv

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
)

// ElasticProxy returns a client whose requests go through a proxy to the configured
// Elasticsearch. intercept sees every request first: it may answer it itself (returning
// true) or let it through (false). Tests use it to observe or inject failures.
func ElasticProxy(t testing.TB, intercept func(http.ResponseWriter, *http.Request) bool) *elasticsearch.Client {
	t.Helper()
	target, err := url.Parse(Config(t).ElasticsearchURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !intercept(w, r) {
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{srv.URL}, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	return es
}
