// Package elastic builds go-elasticsearch clients and checks cluster health.
package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/elastic/go-elasticsearch/v8"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/internal/telemetry"
)

// maxIdleConnsPerNode is how many idle connections the client keeps to each node. Go's
// default (2) makes every request beyond two concurrent ones open and close a connection:
// under load that churn costs Elasticsearch more than the requests themselves.
const maxIdleConnsPerNode = 128

// Transport returns the HTTP transport of NewClient's clients, keeping enough idle
// connections to nodes nodes; tools that wrap the transport start from it.
func Transport(nodes int) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = maxIdleConnsPerNode
	tr.MaxIdleConns = maxIdleConnsPerNode * max(nodes, 1)
	// No Accept-Encoding: gzip. Elasticsearch would deflate every answer and the client
	// inflate it, CPU on both sides that buys nothing on a local network.
	tr.DisableCompression = true
	return tr
}

// traced wraps tr with otelhttp, the OpenTelemetry project's net/http instrumentation: a
// client span per request, only inside a trace (health checks and status polls add none).
// go-elasticsearch's own OpenTelemetry instrumentation instruments its esapi and typed API
// calls, which Shopflow's projections and reads do not use: they send raw _bulk, _mget and
// _search requests through Perform, which only the transport sees.
func traced(tr http.RoundTripper) http.RoundTripper {
	return otelhttp.NewTransport(tr,
		otelhttp.WithPropagators(telemetry.Propagator),
		otelhttp.WithFilter(func(r *http.Request) bool { return trace.SpanContextFromContext(r.Context()).IsValid() }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return "elasticsearch " + r.Method + " " + r.URL.Path
		}))
}

// NewClient returns a client for the given node URLs. The client's product check stays on:
// it accepts only servers that answer with the X-Elastic-Product header.
func NewClient(urls []string) (*elasticsearch.Client, error) {
	cl, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: urls, Transport: traced(Transport(len(urls)))})
	if err != nil {
		return nil, fmt.Errorf("elastic: new client: %w", err)
	}
	return cl, nil
}

// Health returns the cluster status (green, yellow or red). It calls /_cluster/health rather
// than GET /, which the local single-node build does not serve.
func Health(ctx context.Context, cl *elasticsearch.Client) (string, error) {
	res, err := cl.Cluster.Health(cl.Cluster.Health.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("elastic: cluster health: %w", err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return "", fmt.Errorf("elastic: cluster health: %s", res.Status())
	}
	var body struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("elastic: decode cluster health: %w", err)
	}
	return body.Status, nil
}
