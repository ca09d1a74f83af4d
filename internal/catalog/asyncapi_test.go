package catalog_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/shopflow/internal/catalog"
	"github.com/shopflow/shopflow/internal/testenv"
)

// validator returns node and the validate script scripts/asyncapi.sh installs (stack.sh run
// exports its path as SHOPFLOW_ASYNCAPI_VALIDATE); without them the test is skipped, or
// fails when servers and tools are required (CI=true, make test).
func validator(t *testing.T) (node, script string) {
	t.Helper()
	script = os.Getenv("SHOPFLOW_ASYNCAPI_VALIDATE")
	node, err := exec.LookPath("node")
	if script != "" && err == nil {
		return node, script
	}
	msg := "the AsyncAPI parser is not installed (scripts/asyncapi.sh ensure installs it; stack.sh run exports SHOPFLOW_ASYNCAPI_VALIDATE)"
	if err != nil {
		msg = "node not found: " + err.Error()
	}
	if testenv.Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return "", ""
}

func validate(t *testing.T, file string) (string, error) {
	t.Helper()
	node, script := validator(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, node, script, file)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// The checked-in document is valid AsyncAPI 3 for the reference parser (@asyncapi/parser),
// references and schemas included; and the parser is no rubber stamp: a copy with an
// operation action of AsyncAPI 2 ("publish") is refused.
func TestAsyncAPIDocumentParses(t *testing.T) {
	root, err := catalog.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, filepath.FromSlash(catalog.Dir), catalog.AsyncAPIFile)
	out, err := validate(t, file)
	if err != nil {
		t.Fatalf("%s is not valid AsyncAPI: %v\n%s", file, err, out)
	}
	if !strings.Contains(out, "valid AsyncAPI 3.0.0") {
		t.Fatalf("parser output: %s", out)
	}
	t.Log(strings.TrimSpace(out))

	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, broken := range map[string][]byte{
		"v2 action":    bytes.Replace(doc, []byte("action: send"), []byte("action: publish"), 1),
		"dangling ref": bytes.Replace(doc, []byte("'#/components/messages/OrderPlaced.v1'"), []byte("'#/components/messages/OrderPlaced.v9'"), 1),
	} {
		bad := filepath.Join(t.TempDir(), "asyncapi.yaml")
		if err := os.WriteFile(bad, broken, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := validate(t, bad); err == nil {
			t.Errorf("%s: the parser accepted a broken document:\n%s", name, out)
		}
	}
}
