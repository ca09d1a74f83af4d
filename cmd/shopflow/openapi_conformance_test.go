package main

import (
	"bytes"
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/shopflow/internal/testenv"
)

// schemathesisExamples bounds the cases schemathesis generates per operation and phase: the
// run takes about two minutes on the 2-core machines Shopflow is sized for. Raise it with
// SHOPFLOW_SCHEMATHESIS_EXAMPLES for a deeper run.
const schemathesisExamples = "25"

// TestOpenAPIDocumentSaysWhatTheServerAccepts runs schemathesis, with every check that
// compares answers to the document, against shopflow serve running on fresh databases with
// the local signing key's token of every role: every status, content type, header and body
// the server answers must be the document's, schema-valid requests must be accepted and
// schema-violating ones refused, and no request may answer a 5xx.
func TestOpenAPIDocumentSaysWhatTheServerAccepts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs schemathesis against a live server")
	}
	bin := schemathesis(t)
	s := startServe(t, testenv.Jaeger(t))
	// Seed a product and a customer so that operations on ids find something.
	s.do("POST", "/v1/products", `{"sku":"ST-1","name":"Schemathesis widget","price_cents":100,"currency":"EUR","initial_stock":5}`, nil)
	s.do("POST", "/v1/customers", `{"name":"Schema Tester","email":"st@example.com"}`, nil)
	report := filepath.Join(t.TempDir(), "schemathesis")
	baseline, err := filepath.Abs(filepath.Join("testdata", "schemathesis-baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", s.base+"/openapi.yaml", "--url", s.base,
		"--checks", strings.Join(schemathesisChecks, ","),
		"--max-examples", cmp.Or(os.Getenv("SHOPFLOW_SCHEMATHESIS_EXAMPLES"), schemathesisExamples),
		"--phases", "examples,coverage,fuzzing", "--seed", "14", "--workers", "2",
		"--exclude-path", "/metrics",
		"--header", "Authorization: Bearer "+s.token, "--request-timeout", "30",
		"--suppress-health-check", "all", "--report", "junit", "--report-dir", report,
		"--baseline", baseline)
	if os.Getenv("SHOPFLOW_SCHEMATHESIS_BASELINE_UPDATE") == "true" {
		cmd.Args = append(cmd.Args, "--baseline-update")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = t.TempDir() // schemathesis keeps a cache in its working directory
	hooks, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "SCHEMATHESIS_HOOKS=shopflow_hooks", "PYTHONPATH="+hooks, "NO_COLOR=1")
	start := time.Now()
	err = cmd.Run()
	t.Logf("schemathesis ran %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("schemathesis: %v\n%s", err, out.String())
	}
	if testing.Verbose() {
		t.Log(out.String())
	}
}

// schemathesisChecks are the checks of the run: all of schemathesis' but the stateful ones
// that need links between operations the document does not declare (use_after_free,
// ensure_resource_availability), and the authentication ones (ignored_auth,
// missing_required_header: the only required header is the token, which --header adds to
// every request, even those the check means to send without it), which
// TestEveryRouteRefusesWithoutAToken (api) covers route by route with real tokens.
var schemathesisChecks = []string{
	"not_a_server_error", "status_code_conformance", "content_type_conformance",
	"response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
	"positive_data_acceptance", "unsupported_method",
}

// schemathesis returns the schemathesis command scripts/schemathesis.sh installs (stack.sh
// run exports its path); without it the test is skipped, or fails when servers are required
// (CI=true, make test).
func schemathesis(t *testing.T) string {
	t.Helper()
	if path := os.Getenv("SHOPFLOW_SCHEMATHESIS"); path != "" {
		return path
	}
	if path, err := exec.LookPath("schemathesis"); err == nil {
		return path
	}
	msg := "schemathesis not found (scripts/schemathesis.sh ensure installs it)"
	if testenv.Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
