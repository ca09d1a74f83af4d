// Package elastic builds go-elasticsearch clients and checks cluster health.
package elastic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/elastic/go-elasticsearch/v8"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/internal/securelink"
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

// Security is how the client authenticates to a secured cluster and verifies its
// certificate. The zero value sends no credentials and verifies https nodes against the
// system's roots (the local development node speaks plain http).
type Security struct {
	// APIKey is an API key in the form Elasticsearch's create-API-key answer calls
	// "encoded" (base64 of id:key), sent as "Authorization: ApiKey …"; APIKeyFile, if set,
	// holds it instead.
	APIKey, APIKeyFile string
	// Username and Password are basic-auth credentials (not with an API key);
	// PasswordFile, if set, holds the password instead.
	Username, Password, PasswordFile string
	// TLS is the CA file (and client key pair, server name) https nodes are verified with.
	TLS securelink.TLS
}

// config returns the client configuration with the credentials read from their files.
func (s Security) config() (elasticsearch.Config, error) {
	var cfg elasticsearch.Config
	var err error
	if cfg.APIKey, err = securelink.Secret("SHOPFLOW_ES_API_KEY", s.APIKey, s.APIKeyFile); err != nil {
		return cfg, err
	}
	if cfg.Password, err = securelink.Secret("SHOPFLOW_ES_PASSWORD", s.Password, s.PasswordFile); err != nil {
		return cfg, err
	}
	cfg.Username = s.Username
	if cfg.APIKey != "" && (cfg.Username != "" || cfg.Password != "") {
		return cfg, errors.New("an API key and a user name or password: choose one")
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return cfg, errors.New("basic auth: set both the user name and the password")
	}
	return cfg, nil
}

// NewClient returns a client for the given node URLs, with sec's credentials and TLS
// settings. The client's product check stays on: it accepts only servers that answer with
// the X-Elastic-Product header. Errors name the setting at fault.
func NewClient(urls []string, sec Security) (*elasticsearch.Client, error) {
	cfg, err := sec.config()
	if err != nil {
		return nil, fmt.Errorf("elastic: %w", err)
	}
	tr := Transport(len(urls))
	if tr.TLSClientConfig, err = sec.TLS.Config(); err != nil {
		return nil, fmt.Errorf("elastic: TLS: %w", err)
	}
	cfg.Addresses, cfg.Transport = urls, traced(tr)
	cl, err := elasticsearch.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("elastic: new client: %w", err)
	}
	return cl, nil
}

// Check asks for the cluster's health, as Health does, and explains a failure of the link:
// credentials the cluster refused (401, 403: securelink.ErrCredentialsRefused), a
// certificate that is not trusted (securelink.ErrUntrustedCertificate), with the variables
// to check; a red cluster is a failure too.
func Check(ctx context.Context, cl *elasticsearch.Client, urls []string) error {
	status, err := Health(ctx, cl)
	at := strings.Join(urls, ",")
	var refused *statusError
	switch {
	case errors.As(err, &refused) && (refused.code == http.StatusUnauthorized || refused.code == http.StatusForbidden):
		return fmt.Errorf("elasticsearch at %s: %w", at, securelink.Refused(err,
			"check SHOPFLOW_ES_API_KEY(_FILE), or SHOPFLOW_ES_USERNAME and SHOPFLOW_ES_PASSWORD(_FILE)"))
	case err != nil:
		return fmt.Errorf("elasticsearch at %s: %w", at, securelink.Explain(err, "check SHOPFLOW_ES_CA_FILE and the host of SHOPFLOW_ES_URLS"))
	case status == "red":
		return fmt.Errorf("elasticsearch at %s: cluster status red", at)
	}
	return nil
}

// statusError is an error answer of Elasticsearch.
type statusError struct {
	code   int
	status string
}

func (e *statusError) Error() string { return e.status }

// Health returns the cluster status (green, yellow or red). It calls /_cluster/health rather
// than GET /, which the local single-node build does not serve.
func Health(ctx context.Context, cl *elasticsearch.Client) (string, error) {
	res, err := cl.Cluster.Health(cl.Cluster.Health.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("elastic: cluster health: %w", err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return "", fmt.Errorf("elastic: cluster health: %w", &statusError{code: res.StatusCode, status: res.Status()})
	}
	var body struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("elastic: decode cluster health: %w", err)
	}
	return body.Status, nil
}
