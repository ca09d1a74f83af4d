package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/sagas"
)

// Dir is the catalog's directory, relative to the module root.
const Dir = "docs/events"

// AsyncAPIFile and SchemaDir are the document and the schema files, relative to Dir.
const (
	AsyncAPIFile = "asyncapi.yaml"
	SchemaDir    = "schemas"
)

// Context is a bounded context as the catalog describes it: its name (which names its
// topics), the stream types its database holds, and its event types.
type Context struct {
	Name        string
	StreamTypes []string
	// Registry holds the context's event types (their Go types and schema versions).
	Registry *domain.Registry
}

// Contexts returns Shopflow's three contexts with the event types their aggregate packages
// register.
func Contexts() []Context {
	return []Context{
		{Name: sagas.Orders, StreamTypes: []string{order.AggregateType, order.SettlementAggregateType},
			Registry: registry(order.Register, order.RegisterSettlement)},
		{Name: sagas.Inventory, StreamTypes: []string{inventory.ProductAggregateType, inventory.ReservationAggregateType},
			Registry: registry(inventory.Register)},
		{Name: sagas.Payments, StreamTypes: []string{payment.AggregateType, payment.OrderPaymentAggregateType, sagas.DeclineStreamType},
			Registry: registry(payment.Register)},
	}
}

func registry(register ...func(*domain.Registry)) *domain.Registry {
	r := domain.NewRegistry()
	for _, f := range register {
		f(r)
	}
	return r
}

// SchemaFile is the name of the schema file of an event type's version, relative to Dir.
func SchemaFile(eventType string, version int) string {
	return path.Join(SchemaDir, fmt.Sprintf("%s.v%d.json", eventType, version))
}

var schemaFileName = regexp.MustCompile(`^([A-Za-z0-9]+)\.v([0-9]+)\.json$`)

// Files are a catalog's files by name relative to Dir.
type Files map[string][]byte

// Generate returns the catalog of contexts: the schema file of each event type's current
// version, generated from its Go type, and the AsyncAPI document of every version, the
// older ones read from the checked-in catalog (nil: none).
func Generate(contexts []Context, checkedIn fs.FS) (Files, error) {
	files := Files{}
	versions := map[string][]int{} // every version of each event type, ascending
	for _, c := range contexts {
		for _, name := range c.Registry.Types() {
			t := c.Registry.GoType(name)
			if t == nil {
				return nil, fmt.Errorf("catalog: %s is registered without its Go type", name)
			}
			s, err := SchemaOf(t)
			if err != nil {
				return nil, err
			}
			current := c.Registry.SchemaVersion(name)
			files[SchemaFile(name, current)] = s
			for v := 1; v < current; v++ {
				old, err := readFile(checkedIn, SchemaFile(name, v))
				if err != nil {
					return nil, fmt.Errorf("catalog: %s v%d (the schema of an old version is kept, never generated): %w", name, v, err)
				}
				files[SchemaFile(name, v)] = old
			}
			for v := 1; v <= current; v++ {
				versions[name] = append(versions[name], v)
			}
		}
	}
	doc, err := asyncAPI(contexts, files, versions)
	if err != nil {
		return nil, err
	}
	files[AsyncAPIFile] = doc
	return files, nil
}

func readFile(fsys fs.FS, name string) ([]byte, error) {
	if fsys == nil {
		return nil, fs.ErrNotExist
	}
	return fs.ReadFile(fsys, name)
}

// Problem is one thing wrong with the checked-in catalog.
type Problem struct {
	// File is the catalog file concerned, relative to Dir.
	File string
	// Breaking is set when a Go event type changed incompatibly at the same schema version:
	// regenerating does not help, the type needs a new version and an upcaster.
	Breaking bool
	Message  string
}

func (p Problem) String() string { return Dir + "/" + p.File + ": " + p.Message }

// Check compares the checked-in catalog with the one generated from contexts and returns
// what differs: files to regenerate (`make catalog`), and breaking changes of an event
// type at its checked-in schema version (see Breaking), which need a new version and an
// upcaster instead. It also reports checked-in versions newer than a type's current one.
func Check(contexts []Context, checkedIn fs.FS) ([]Problem, error) {
	var problems []Problem
	for _, c := range contexts {
		for _, name := range c.Registry.Types() {
			p, err := checkType(checkedIn, name, c.Registry.SchemaVersion(name), c.Registry)
			if err != nil {
				return nil, err
			}
			problems = append(problems, p...)
		}
	}
	if breaks(problems) {
		return problems, nil // the generated catalog would be wrong; say what to fix first
	}
	generated, err := Generate(contexts, checkedIn)
	if err != nil {
		return nil, err
	}
	return append(problems, stale(generated, checkedIn)...), nil
}

func breaks(problems []Problem) bool {
	return slices.ContainsFunc(problems, func(p Problem) bool { return p.Breaking })
}

// checkType checks one event type's current Go type against its checked-in schemas.
func checkType(checkedIn fs.FS, name string, current int, r *domain.Registry) ([]Problem, error) {
	schema, err := SchemaOf(r.GoType(name))
	if err != nil {
		return nil, err
	}
	return CheckSchema(checkedIn, name, current, schema)
}

// CheckSchema checks the schema of an event type's current version (generated from its Go
// type) against the checked-in catalog: the checked-in schema of that version, if any, must
// not break (see Breaking); every older version must be checked in, and no newer one.
func CheckSchema(checkedIn fs.FS, name string, current int, schema []byte) ([]Problem, error) {
	var problems []Problem
	file := SchemaFile(name, current)
	old, err := readFile(checkedIn, file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		diffs, err := Breaking(old, schema)
		if err != nil {
			return nil, fmt.Errorf("catalog: %s: %w", file, err)
		}
		for _, d := range diffs {
			problems = append(problems, Problem{File: file, Breaking: true, Message: fmt.Sprintf(
				"%s v%d changed incompatibly (%s): stored and published events of v%d would not read the same; "+
					"raise its schema version to %d (SchemaVersion) and register an upcaster from v%d (domain.RegisterEvent)",
				name, current, d, current, current+1, current)})
		}
	}
	for v := 1; v < current; v++ {
		if _, err := readFile(checkedIn, SchemaFile(name, v)); err != nil {
			problems = append(problems, Problem{File: SchemaFile(name, v), Message: fmt.Sprintf(
				"%s v%d has no checked-in schema: an old version's schema must be kept (restore it from git history)", name, v)})
		}
	}
	if _, err := readFile(checkedIn, SchemaFile(name, current+1)); err == nil {
		problems = append(problems, Problem{File: SchemaFile(name, current+1), Message: fmt.Sprintf(
			"%s v%d is checked in but the Go type is at v%d: a schema version is never lowered", name, current+1, current)})
	}
	return problems, nil
}

// stale lists the generated files that differ from the checked-in ones, and the checked-in
// schema files that no event type has.
func stale(generated Files, checkedIn fs.FS) []Problem {
	var problems []Problem
	names := make([]string, 0, len(generated))
	for name := range generated {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		old, err := readFile(checkedIn, name)
		if err != nil || !bytes.Equal(old, generated[name]) {
			problems = append(problems, Problem{File: name, Message: "is not what the Go event types generate: run `make catalog` and commit docs/events"})
		}
	}
	if checkedIn != nil {
		entries, _ := fs.ReadDir(checkedIn, SchemaDir)
		for _, e := range entries {
			if _, ok := generated[path.Join(SchemaDir, e.Name())]; !ok {
				problems = append(problems, Problem{File: path.Join(SchemaDir, e.Name()), Message: "no event type of this version is registered (an event type is never removed)"})
			}
		}
	}
	return problems
}

// Write regenerates the catalog in dir (the module's docs/events): it refuses, writing
// nothing, when a Go event type changed incompatibly at its schema version (see Check).
// Files of older versions are left as they are.
func Write(contexts []Context, dir string) error {
	checkedIn := os.DirFS(dir)
	problems, err := Check(contexts, checkedIn)
	if err != nil {
		return err
	}
	if breaks(problems) {
		var errs []error
		for _, p := range problems {
			errs = append(errs, errors.New(p.String()))
		}
		return fmt.Errorf("catalog: not regenerated:\n%w", errors.Join(errs...))
	}
	files, err := Generate(contexts, checkedIn)
	if err != nil {
		return err
	}
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
	}
	return nil
}

// versionOf parses a schema file name; ok is false for other names.
func versionOf(file string) (eventType string, version int, ok bool) {
	m := schemaFileName.FindStringSubmatch(path.Base(file))
	if m == nil {
		return "", 0, false
	}
	v, err := strconv.Atoi(m[2])
	return m[1], v, err == nil
}
