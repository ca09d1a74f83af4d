package catalog_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/internal/catalog"
)

// checkedIn is the catalog as committed: docs/events of the module.
func checkedIn(t *testing.T) fs.FS {
	t.Helper()
	root, err := catalog.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return os.DirFS(filepath.Join(root, filepath.FromSlash(catalog.Dir)))
}

// The checked-in catalog is what the Go event types generate, and no event type changed
// incompatibly at its schema version. When this fails, the message says what to do.
func TestCatalogIsUpToDate(t *testing.T) {
	problems, err := catalog.Check(catalog.Contexts(), checkedIn(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// A catalog regenerated into an empty directory next to the old versions' schemas is the
// checked-in one, byte for byte (what `make catalog` writes is what is committed).
func TestWriteReproducesTheCheckedInCatalog(t *testing.T) {
	dir := t.TempDir()
	src := checkedIn(t)
	entries, err := fs.ReadDir(src, catalog.SchemaDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, catalog.SchemaDir), 0o755); err != nil {
		t.Fatal(err)
	}
	contexts := catalog.Contexts()
	for _, e := range entries { // only the old versions, which are never generated
		name := filepath.ToSlash(filepath.Join(catalog.SchemaDir, e.Name()))
		if isCurrent(contexts, e.Name()) {
			continue
		}
		b, _ := fs.ReadFile(src, name)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := catalog.Write(contexts, dir); err != nil {
		t.Fatal(err)
	}
	problems, err := catalog.Check(contexts, os.DirFS(dir))
	if err != nil || len(problems) > 0 {
		t.Fatalf("after Write: %v %v", problems, err)
	}
	for _, name := range []string{catalog.AsyncAPIFile, catalog.SchemaFile(order.TypeOrderConfirmed, 2)} {
		a, _ := fs.ReadFile(src, name)
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if string(a) != string(b) {
			t.Errorf("%s differs from the checked-in one", name)
		}
	}
}

func isCurrent(contexts []catalog.Context, file string) bool {
	for _, c := range contexts {
		for _, name := range c.Registry.Types() {
			if catalog.SchemaFile(name, c.Registry.SchemaVersion(name)) == catalog.SchemaDir+"/"+file {
				return true
			}
		}
	}
	return false
}

// Mutated copies of order.OrderPlaced (v1), as a developer might edit the type.
type (
	placedPlus struct { // a field added: compatible, but the catalog must be regenerated
		OrderID    string       `json:"order_id"`
		CustomerID string       `json:"customer_id"`
		Lines      []order.Line `json:"lines"`
		PlacedAt   time.Time    `json:"placed_at"`
		Channel    string       `json:"channel,omitempty"`
	}
	placedRemoved struct { // customer_id removed
		OrderID  string       `json:"order_id"`
		Lines    []order.Line `json:"lines"`
		PlacedAt time.Time    `json:"placed_at"`
	}
	placedRenamed struct { // customer_id renamed
		OrderID  string       `json:"order_id"`
		Customer string       `json:"customer"`
		Lines    []order.Line `json:"lines"`
		PlacedAt time.Time    `json:"placed_at"`
	}
	placedRetyped struct { // a line's quantity became a string, deep in the payload
		OrderID    string    `json:"order_id"`
		CustomerID string    `json:"customer_id"`
		Lines      []line    `json:"lines"`
		PlacedAt   time.Time `json:"placed_at"`
	}
	line struct {
		ProductID string `json:"product_id"`
		Quantity  string `json:"quantity"`
	}
	placedTimeRetyped struct { // placed_at became epoch millis
		OrderID    string       `json:"order_id"`
		CustomerID string       `json:"customer_id"`
		Lines      []order.Line `json:"lines"`
		PlacedAt   int64        `json:"placed_at"`
	}
)

func schemaOf[T any](t *testing.T) []byte {
	t.Helper()
	b, err := catalog.SchemaOf(reflect.TypeFor[T]())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The real OrderPlaced passes; a compatible change (a field added) is no breaking problem
// but leaves the catalog stale; removing, renaming or retyping a field at the same schema
// version is breaking and names the field.
func TestCheckSchemaRefusesIncompatibleChanges(t *testing.T) {
	docs := checkedIn(t)
	problems := func(t *testing.T, version int, schema []byte) []catalog.Problem {
		t.Helper()
		p, err := catalog.CheckSchema(docs, order.TypeOrderPlaced, version, schema)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("unchanged", func(t *testing.T) {
		if p := problems(t, 1, schemaOf[order.OrderPlaced](t)); len(p) > 0 {
			t.Errorf("the real type: %v", p)
		}
	})
	t.Run("field added", func(t *testing.T) {
		if p := problems(t, 1, schemaOf[placedPlus](t)); len(p) > 0 {
			t.Errorf("an added field is compatible: %v", p)
		}
	})
	for name, c := range map[string]struct {
		schema []byte
		field  string
	}{
		"field removed": {schemaOf[placedRemoved](t), "customer_id: removed or renamed"},
		"field renamed": {schemaOf[placedRenamed](t), "customer_id: removed or renamed"},
		"field retyped": {schemaOf[placedRetyped](t), "lines[].quantity: retyped from integer to string"},
		"time retyped":  {schemaOf[placedTimeRetyped](t), "placed_at: retyped from string (date-time) to integer"},
	} {
		t.Run(name, func(t *testing.T) {
			p := problems(t, 1, c.schema)
			if len(p) != 1 || !p[0].Breaking || !strings.Contains(p[0].Message, c.field) || !strings.Contains(p[0].Message, "upcaster") {
				t.Fatalf("problems = %v, want one breaking problem naming %q and the upcaster", p, c.field)
			}
		})
		// The same change as a new schema version (with its upcaster, which RegisterEvent
		// demands) is accepted: version 1's schema stays checked in.
		t.Run(name+" as v2", func(t *testing.T) {
			if p := problems(t, 2, c.schema); len(p) > 0 {
				t.Errorf("a new version: %v", p)
			}
		})
	}
	t.Run("v2 without the v1 schema", func(t *testing.T) {
		p, err := catalog.CheckSchema(fstest.MapFS{}, order.TypeOrderPlaced, 2, schemaOf[placedRenamed](t))
		if err != nil || len(p) != 1 || !strings.Contains(p[0].Message, "v1 has no checked-in schema") {
			t.Errorf("problems = %v, %v", p, err)
		}
	})
	t.Run("version lowered", func(t *testing.T) {
		fsys := fstest.MapFS{catalog.SchemaFile("OrderPlaced", 2): {Data: schemaOf[order.OrderPlaced](t)}}
		if p, _ := catalog.CheckSchema(fsys, order.TypeOrderPlaced, 1, schemaOf[order.OrderPlaced](t)); len(p) != 1 {
			t.Errorf("problems = %v", p)
		}
	})
}

// placedV2 is placedRenamed declared as schema version 2 of OrderPlaced.
type placedV2 placedRenamed

func (placedV2) EventType() string  { return order.TypeOrderPlaced }
func (placedV2) SchemaVersion() int { return 2 }

// Check on whole contexts: a changed Go type that was not regenerated is reported as stale
// (and Write refuses nothing), an incompatible change at the same version is breaking (and
// Write refuses to regenerate); the same change as v2 with an upcaster only needs `make
// catalog`; v2 without an upcaster cannot even be registered.
func TestCheckFindsStaleAndBreakingCatalogs(t *testing.T) {
	docs := checkedIn(t)
	withPlaced := func(register func(*domain.Registry)) []catalog.Context {
		r := domain.NewRegistry()
		register(r)
		domain.RegisterEvent[order.OrderCancelled](r)
		return []catalog.Context{{Name: "orders", StreamTypes: []string{"order"}, Registry: r}}
	}
	stale := withPlaced(func(r *domain.Registry) { domain.RegisterEvent[plusEvent](r) })
	p, err := catalog.Check(stale, docs)
	if err != nil {
		t.Fatal(err)
	}
	if !mentions(p, "schemas/OrderPlaced.v1.json: is not what the Go event types generate") || breaking(p) {
		t.Errorf("added field, not regenerated: %v", p)
	}

	broken := withPlaced(func(r *domain.Registry) { domain.RegisterEvent[renamedEvent](r) })
	p, _ = catalog.Check(broken, docs)
	if !breaking(p) || !mentions(p, "customer_id: removed or renamed") {
		t.Errorf("renamed field at v1: %v", p)
	}
	dir := t.TempDir()
	if err := catalog.Write(broken, dir); err != nil {
		t.Errorf("Write into an empty catalog: %v", err) // nothing checked in: nothing breaks
	}
	if err := os.WriteFile(filepath.Join(dir, catalog.SchemaFile("OrderPlaced", 1)), schemaOf[order.OrderPlaced](t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := catalog.Write(broken, dir); err == nil || !strings.Contains(err.Error(), "upcaster") {
		t.Errorf("Write over the v1 schema with a renamed field: err = %v", err)
	}

	upcast := func(p domain.Upcaster) func(*domain.Registry) {
		return func(r *domain.Registry) { domain.RegisterEvent[placedV2](r, p) }
	}
	rename := domain.Upcaster(func(p json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(strings.Replace(string(p), `"customer_id"`, `"customer"`, 1)), nil
	})
	p, _ = catalog.Check(withPlaced(upcast(rename)), docs)
	if breaking(p) || !mentions(p, "schemas/OrderPlaced.v2.json: is not what") {
		t.Errorf("renamed field as v2 with an upcaster: %v", p)
	}
	defer func() {
		if recover() == nil {
			t.Error("v2 registered without an upcaster")
		}
	}()
	withPlaced(func(r *domain.Registry) { domain.RegisterEvent[placedV2](r) })
}

type plusEvent placedPlus

func (plusEvent) EventType() string { return order.TypeOrderPlaced }

type renamedEvent placedRenamed

func (renamedEvent) EventType() string { return order.TypeOrderPlaced }

func mentions(problems []catalog.Problem, s string) bool {
	for _, p := range problems {
		if strings.Contains(p.String(), s) {
			return true
		}
	}
	return false
}

func breaking(problems []catalog.Problem) bool {
	for _, p := range problems {
		if p.Breaking {
			return true
		}
	}
	return false
}
