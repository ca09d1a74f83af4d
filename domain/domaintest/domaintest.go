// Package domaintest holds the checks every domain package runs on its events. Standard
// library only, like the domain itself.
package domaintest

import (
	"reflect"
	"slices"
	"testing"

	"github.com/shopflow/shopflow/domain"
)

// Contract pins the JSON form of one event: payloads are stored forever and published, so
// a change to a field name or format must fail a test.
type Contract struct {
	Event domain.Event
	JSON  string
	// V1, for an event type past schema version 1, is the same event as version 1 wrote
	// it: its upcasters must turn it into Event.
	V1 string
}

// CheckContracts encodes each event, compares it with its pinned JSON, and decodes it back
// through a registry filled by register, expecting the same event.
func CheckContracts(t *testing.T, register func(*domain.Registry), contracts []Contract) {
	t.Helper()
	r := domain.NewRegistry()
	register(r)
	for _, c := range contracts {
		t.Run(c.Event.EventType(), func(t *testing.T) {
			name, payload, err := domain.Encode(c.Event)
			if err != nil {
				t.Fatal(err)
			}
			if name != c.Event.EventType() || string(payload) != c.JSON {
				t.Errorf("Encode = %s %s\n want %s", name, payload, c.JSON)
			}
			back, err := r.Decode(name, payload)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, c.Event) {
				t.Errorf("Decode = %#v, want %#v", back, c.Event)
			}
			checkV1(t, r, c)
		})
	}
}

// checkV1 decodes the contract's version 1 payload through the registry's upcasters and
// expects the contract's event; an event type past version 1 must have one.
func checkV1(t *testing.T, r *domain.Registry, c Contract) {
	t.Helper()
	name := c.Event.EventType()
	if c.V1 == "" {
		if v := r.SchemaVersion(name); v > 1 {
			t.Errorf("%s is at schema version %d: its contract needs the V1 payload", name, v)
		}
		return
	}
	back, err := r.DecodeVersion(name, 1, []byte(c.V1))
	if err != nil {
		t.Fatalf("decode version 1: %v", err)
	}
	if !reflect.DeepEqual(back, c.Event) {
		t.Errorf("DecodeVersion(1) = %#v, want %#v", back, c.Event)
	}
}

// CheckTypes verifies that register registers exactly the event type names want (sorted).
func CheckTypes(t *testing.T, register func(*domain.Registry), want []string) {
	t.Helper()
	r := domain.NewRegistry()
	register(r)
	if got := r.Types(); !slices.Equal(got, want) {
		t.Errorf("Types = %v, want %v", got, want)
	}
}

// CheckAdvance loads an aggregate from every prefix of history, advances it by the rest,
// and expects the aggregate loaded from the whole history. Then it records one change on
// that aggregate with change and expects Advance to refuse an aggregate with uncommitted
// changes.
func CheckAdvance[A any](t *testing.T, history []domain.Event, load func([]domain.Event) (A, error),
	advance func(A, []domain.Event) error, change func(A) error) {
	t.Helper()
	whole, err := load(history)
	if err != nil {
		t.Fatal(err)
	}
	for cut := 1; cut < len(history); cut++ {
		a, err := load(history[:cut])
		if err != nil {
			t.Fatal(err)
		}
		if err := advance(a, history[cut:]); err != nil {
			t.Fatalf("advance from %d: %v", cut, err)
		}
		if !reflect.DeepEqual(a, whole) {
			t.Errorf("loaded to %d and advanced = %+v, want %+v", cut, a, whole)
		}
	}
	if err := change(whole); err != nil {
		t.Fatal(err)
	}
	if err := advance(whole, nil); err == nil {
		t.Error("Advance accepted an aggregate with uncommitted changes")
	}
}

// Snapshotter is what CheckSnapshot needs of an aggregate: its snapshot and Advance.
type Snapshotter interface {
	Snapshot() ([]byte, error)
	Advance([]domain.Event) error
}

// CheckSnapshot loads an aggregate from every prefix of history, snapshots it, restores
// it as aggregate id at that version, and expects the aggregate it snapshotted; then it
// advances the restored one by the rest of history and expects the aggregate loaded from
// the whole history.
func CheckSnapshot[A Snapshotter](t *testing.T, id string, history []domain.Event, load func([]domain.Event) (A, error),
	restore func(id string, version int64, state []byte) (A, error)) {
	t.Helper()
	whole, err := load(history)
	if err != nil {
		t.Fatal(err)
	}
	for cut := 1; cut <= len(history); cut++ {
		prefix, err := load(history[:cut])
		if err != nil {
			t.Fatal(err)
		}
		state, err := prefix.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		a, err := restore(id, int64(cut), state)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, prefix) {
			t.Errorf("restored at %d = %+v, want %+v", cut, a, prefix)
		}
		if err := a.Advance(history[cut:]); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, whole) {
			t.Errorf("restored at %d and advanced = %+v, want %+v", cut, a, whole)
		}
	}
}
