package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/invopop/jsonschema"
)

// Module is the Go module path, the base of the packages whose doc comments describe the
// schemas.
const Module = "github.com/shopflow/shopflow"

// SchemaOf returns the JSON Schema of a Go type as it is encoded with encoding/json:
// field names from the json tags, a field without omitempty required, unknown fields
// allowed (readers ignore fields added later), every nested type inlined (no $ref), type
// and field descriptions from the doc comments of the domain packages. The output is
// indented JSON ending in a newline, the same bytes for the same type.
func SchemaOf(t reflect.Type) ([]byte, error) {
	r := reflector()
	s := r.ReflectFromType(t)
	s.Version, s.ID = "", ""
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("catalog: schema of %v: %w", t, err)
	}
	return append(b, '\n'), nil
}

var (
	commentsOnce sync.Once
	comments     map[string]string
	commentsErr  error
)

// reflector returns the generator's settings, with the doc comments of the domain and
// eventstore packages read once from the module's source.
func reflector() *jsonschema.Reflector {
	commentsOnce.Do(func() { comments, commentsErr = readComments() })
	r := &jsonschema.Reflector{
		Anonymous: true, AllowAdditionalProperties: true, DoNotReference: true, ExpandedStruct: true,
		Mapper: mapType, CommentMap: comments,
	}
	return r
}

// mapType gives the schema of the types encoding/json writes other than by reflection.
func mapType(t reflect.Type) *jsonschema.Schema {
	switch t {
	case reflect.TypeFor[uuid.UUID]():
		return &jsonschema.Schema{Type: "string", Format: "uuid"}
	case reflect.TypeFor[json.RawMessage]():
		return &jsonschema.Schema{Type: "object"}
	}
	return nil
}

// readComments reads the doc comments of the packages under domain/ and eventstore/ of the
// module root (found from the working directory). The generator keys them by import path
// joined with the directory it walks, so the walk starts from a relative path and the base
// is the module path of the working directory.
func readComments() (map[string]string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(root, wd)
	if err != nil {
		return nil, err
	}
	r := &jsonschema.Reflector{}
	base := strings.TrimSuffix(Module+"/"+filepath.ToSlash(rel), "/.")
	for _, dir := range []string{"domain", "eventstore"} {
		path, err := filepath.Rel(wd, filepath.Join(root, dir))
		if err != nil {
			return nil, err
		}
		if err := r.AddGoComments(base, path); err != nil {
			return nil, fmt.Errorf("catalog: doc comments of %s: %w", dir, err)
		}
	}
	return r.CommentMap, nil
}

// ModuleRoot returns the directory of the module's go.mod, from the working directory up.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module "+Module+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("catalog: no go.mod of %s above the working directory", Module)
		}
		dir = parent
	}
}

// Breaking lists the differences between two schemas of one event type that old payloads
// and the code reading the new ones cannot both live with: a property of old missing from
// new (removed or renamed), or one whose type or format changed (retyped), at any depth.
// Added properties, descriptions and required lists are not breaking: readers ignore
// unknown fields and decode a missing one as its zero value. Errors are malformed JSON.
func Breaking(oldSchema, newSchema []byte) ([]string, error) {
	var o, n map[string]any
	if err := json.Unmarshal(oldSchema, &o); err != nil {
		return nil, fmt.Errorf("catalog: old schema: %w", err)
	}
	if err := json.Unmarshal(newSchema, &n); err != nil {
		return nil, fmt.Errorf("catalog: new schema: %w", err)
	}
	return breaking("", o, n), nil
}

func breaking(path string, o, n map[string]any) []string {
	at := cmpPath(path)
	if fmt.Sprint(o["type"]) != fmt.Sprint(n["type"]) || fmt.Sprint(o["format"]) != fmt.Sprint(n["format"]) {
		return []string{fmt.Sprintf("%s: retyped from %s to %s", at, kind(o), kind(n))}
	}
	var out []string
	if oi, ok := o["items"].(map[string]any); ok {
		ni, _ := n["items"].(map[string]any)
		out = append(out, breaking(path+"[]", oi, ni)...)
	}
	op, _ := o["properties"].(map[string]any)
	np, _ := n["properties"].(map[string]any)
	names := make([]string, 0, len(op))
	for name := range op {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		sub := strings.TrimPrefix(path+"."+name, ".")
		nv, ok := np[name].(map[string]any)
		if !ok {
			out = append(out, fmt.Sprintf("%s: removed or renamed", sub))
			continue
		}
		ov, _ := op[name].(map[string]any)
		out = append(out, breaking(sub, ov, nv)...)
	}
	return out
}

func cmpPath(path string) string {
	if path == "" {
		return "the payload"
	}
	return path
}

// kind describes a schema's type and format for a message.
func kind(s map[string]any) string {
	if s == nil {
		return "nothing"
	}
	k := fmt.Sprint(s["type"])
	if f, ok := s["format"]; ok {
		k += " (" + fmt.Sprint(f) + ")"
	}
	return k
}
