package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/config"
	"github.com/shopflow/shopflow/internal/telemetry"
	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/internal/testenv/jaegerapi"
)

// e2e is shopflow serve running in the test, on fresh databases and in a namespace of its own
// on the shared Kafka and Elasticsearch.
type e2e struct {
	t     *testing.T
	cfg   config.Config
	base  string
	token string
	dbs   map[string]string // database name by context
	urls  map[string]string // database URL by context
}

// startServe runs serve (see runServe) tracing every span to the real Jaeger jg.
func startServe(t *testing.T, jg testenv.JaegerServer) *e2e {
	t.Helper()
	return runServe(t, "e2e", map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": jg.OTLPEndpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_SERVICE_NAME": "shopflow-e2e", "OTEL_TRACES_SAMPLER": "always_on", "OTEL_BSP_SCHEDULE_DELAY": "100",
	})
}

// runServe configures serve from the environment as a deployment would (fresh databases,
// a namespace named after prefix, the local signing key, then env, e.g. OTEL_*), runs it
// until the test ends and waits until it is ready. Its token has every role.
func runServe(t *testing.T, prefix string, env map[string]string) *e2e {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	keys := filepath.Join(t.TempDir(), "auth")
	if err := authInit([]string{"init-local", keys}, io.Discard); err != nil {
		t.Fatal(err)
	}
	s := &e2e{t: t, base: "http://" + addr, dbs: map[string]string{}, urls: map[string]string{}}
	vars := map[string]string{
		"SHOPFLOW_HTTP_ADDR": addr, "SHOPFLOW_NAMESPACE": strings.ToLower(testenv.Name(prefix)), "SHOPFLOW_KAFKA_PARTITIONS": "2",
		"SHOPFLOW_INSTANCE_ID":    "dynamic",
		"SHOPFLOW_AUTH_ISSUER":    auth.LocalIssuer,
		"SHOPFLOW_AUTH_JWKS_FILE": filepath.Join(keys, auth.JWKSFile), "SHOPFLOW_AUTH_SIGNING_KEY": filepath.Join(keys, auth.SigningKeyFile),
	}
	maps.Copy(vars, env)
	for _, c := range config.Contexts {
		url := testenv.Database(t)
		vars["SHOPFLOW_"+strings.ToUpper(c)+"_DATABASE_URL"], s.urls[c], s.dbs[c] = url, url, url[strings.LastIndex(url, "/")+1:]
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
	if s.cfg, err = config.Load(); err != nil {
		t.Fatal(err)
	}
	s.token = mint(t, s.cfg, "--role", "all")
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	done := make(chan error, 1)
	cfg := s.cfg
	go func() { done <- traced(ctx, log, func() error { return serve(ctx, cfg, log) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		otel.SetTracerProvider(noop.NewTracerProvider())
	})
	s.waitReady(done)
	return s
}

// mint returns a bearer token of the test's local signing key.
func mint(t *testing.T, cfg config.Config, args ...string) string {
	t.Helper()
	var tok bytes.Buffer
	if err := token(cfg, args, &tok); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(tok.String())
}

// waitReady waits for /readyz to answer 200, failing if serve returns first.
func (s *e2e) waitReady(done chan error) {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			s.t.Fatalf("serve returned before it was ready: %v", err)
		default:
		}
		if res, err := http.Get(s.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatal("serve was not ready within 2 minutes")
}

// do sends a request with the token and decodes a 2xx JSON answer into out. A 503 is
// retried after its Retry-After, for a minute, as a careful client would (a read model's
// index may be created but not yet searchable at start-up).
func (s *e2e) do(method, path, body string, out any) http.Header {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		res, data := s.send(method, path, body)
		if res.StatusCode == http.StatusServiceUnavailable && time.Now().Before(deadline) {
			wait, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			time.Sleep(time.Duration(max(wait, 1)) * time.Second)
			continue
		}
		return s.decode(method, path, res, data, out)
	}
}

// send sends one request with the token and returns the answer and its body.
func (s *e2e) send(method, path, body string) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res, data
}

// decode checks for a 2xx answer and decodes its JSON body into out (unless nil).
func (s *e2e) decode(method, path string, res *http.Response, data []byte, out any) http.Header {
	s.t.Helper()
	if res.StatusCode/100 != 2 {
		s.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return res.Header
}

// A newcomer's order, placed over HTTP on the real serve, is one trace in the real Jaeger:
// the POST, the orders append, inventory's and payments' reactions, the orders reaction that
// confirms it, and the projector indexing the confirmed order, in causal order.
func TestOneOrderIsOneTraceInJaeger(t *testing.T) {
	jg := testenv.Jaeger(t)
	s := startServe(t, jg)
	var product, customer, placed struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
	}
	s.do("POST", "/v1/products", fmt.Sprintf(`{"sku":%q,"name":"Mug","price_cents":1200,"currency":"EUR","initial_stock":5}`, testenv.Name("MUG")), &product)
	s.do("POST", "/v1/customers", fmt.Sprintf(`{"name":"Ada","email":%q}`, testenv.Name("ada")+"@example.com"), &customer)
	s.do("POST", "/v1/customers/"+customer.ID+"/deposits", `{"amount_cents":5000}`, nil)
	h := s.do("POST", "/v1/orders", fmt.Sprintf(`{"customer_id":%q,"lines":[{"product_id":%q,"quantity":2}]}`, customer.ID, product.ID), &placed)
	traceID := telemetry.SpanContextOf(h.Get("traceresponse"), "").TraceID().String()
	if traceID == "00000000000000000000000000000000" {
		t.Fatalf("POST /v1/orders answered traceresponse %q", h.Get("traceresponse"))
	}
	var doc struct {
		Status  string `json:"status"`
		Version int64  `json:"version"`
	}
	for v := placed.Version + 1; doc.Status != "confirmed"; v++ {
		s.do("GET", fmt.Sprintf("/v1/orders/%s?min_version=%d&wait=10s", placed.ID, v), "", &doc)
		if doc.Status != "pending" && doc.Status != "confirmed" {
			t.Fatalf("order became %s", doc.Status)
		}
	}
	steps := []string{"POST /v1/orders", "inventory react OrderPlaced", "payments react OrderStockReserved",
		"orders react PaymentCaptured", "projections index orders"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tr, err := jg.Query.WaitTrace(ctx, traceID, func(tr jaegerapi.Trace) bool { return len(confirmedIndex(tr)) > 0 })
	if err != nil {
		t.Fatalf("trace %s in Jaeger: %v", traceID, err)
	}
	var last time.Time
	for _, step := range steps {
		spans := named(tr, step)
		if step == "projections index orders" {
			spans = confirmedIndex(tr)
		}
		if len(spans) == 0 {
			t.Errorf("trace %s has no %q span", traceID, step)
			continue
		}
		if spans[0].Start().Before(last) {
			t.Errorf("%q starts at %v, before the step before it (%v)", step, spans[0].Start(), last)
		}
		last = spans[0].Start()
	}
	for c, db := range s.dbs {
		if !hasAppendIn(tr, db) {
			t.Errorf("trace %s has no append in the %s database", traceID, c)
		}
	}
	// The printed Jaeger URL shows it, in a real browser: every hop of the waterfall.
	page := traceView(t, jg.Query.TraceURL(traceID))
	for _, step := range steps {
		if !strings.Contains(page, step) {
			t.Errorf("the trace view at %s lacks %q", jg.Query.TraceURL(traceID), step)
		}
	}
	t.Logf("trace %s: %d spans, %s", traceID, len(tr.Spans), jg.Query.TraceURL(traceID))
}

// named returns the spans of tr called name, earliest first.
func named(tr jaegerapi.Trace, name string) []jaegerapi.Span {
	var out []jaegerapi.Span
	for _, s := range tr.Spans {
		if s.OperationName == name {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b jaegerapi.Span) int { return cmp.Compare(a.StartMicros, b.StartMicros) })
	return out
}

// confirmedIndex returns the projector's index spans of the order's confirmation: those
// that descend from the orders reaction that confirmed it.
func confirmedIndex(tr jaegerapi.Trace) []jaegerapi.Span {
	var out []jaegerapi.Span
	for _, s := range named(tr, "projections index orders") {
		for p := tr.Span(s.ParentID()); p != nil; p = tr.Span(p.ParentID()) {
			if p.OperationName == "orders react PaymentCaptured" {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// hasAppendIn reports whether tr has an append span into database db.
func hasAppendIn(tr jaegerapi.Trace, db string) bool {
	for _, s := range named(tr, "eventstore append") {
		if s.StringTag("db.namespace") == db {
			return true
		}
	}
	return false
}

// traceView opens a trace's page in headless chromium, waits until the waterfall is drawn
// and returns its text. With SHOPFLOW_SCREENSHOTS_DIR set it saves the page there as
// order-trace.png (docs/tracing's is made that way). Without chromium the test is skipped,
// or fails when servers are required (CI=true, make test).
func traceView(t *testing.T, url string) string {
	t.Helper()
	path := cmp.Or(os.Getenv("SHOPFLOW_CHROMIUM"), "chromium")
	if p, err := exec.LookPath(path); err == nil {
		path = p
	} else if testenv.Required() {
		t.Fatalf("chromium not found (scripts/chromium.sh ensure installs it): %v", err)
	} else {
		t.Skipf("chromium not found: %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1500, 1300), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(".row"))); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#main")))
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	if dir := os.Getenv("SHOPFLOW_SCREENSHOTS_DIR"); dir != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: a PNG
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "order-trace.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return text
}
