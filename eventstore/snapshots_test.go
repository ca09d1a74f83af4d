package eventstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/shopflow/shopflow/eventstore"
)

// A stream's snapshot is replaced by one as new or newer, or by one of another schema
// version, and never names a version its stream does not have.
func TestSnapshots(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.Append(ctx, "product-1", "product", 0, ev("A", 1), ev("B", 2), ev("C", 3)); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.LoadSnapshot(ctx, "product-1"); ok || err != nil {
		t.Fatalf("LoadSnapshot of a stream without one = %v, %v", ok, err)
	}
	snap := func(version int64, schema int, state string) eventstore.Snapshot {
		return eventstore.Snapshot{StreamID: "product-1", StreamType: "product", Version: version, SchemaVersion: schema, State: []byte(state)}
	}
	steps := []struct {
		name  string
		snap  eventstore.Snapshot
		saved bool
		want  eventstore.Snapshot // stored afterwards
	}{
		{"first", snap(2, 1, "s2"), true, snap(2, 1, "s2")},
		{"newer", snap(3, 1, "s3"), true, snap(3, 1, "s3")},
		{"same version", snap(3, 1, "again"), true, snap(3, 1, "again")},
		{"older", snap(1, 1, "s1"), false, snap(3, 1, "again")},
		{"ahead of the stream", snap(4, 1, "s4"), false, snap(3, 1, "again")},
		{"another schema, older", snap(2, 2, "v2"), true, snap(2, 2, "v2")},
	}
	for _, step := range steps {
		saved, err := s.SaveSnapshot(ctx, step.snap)
		if err != nil || saved != step.saved {
			t.Errorf("%s: SaveSnapshot = %v, %v; want %v", step.name, saved, err, step.saved)
		}
		got, ok, err := s.LoadSnapshot(ctx, "product-1")
		if err != nil || !ok || got.Version != step.want.Version || got.SchemaVersion != step.want.SchemaVersion ||
			string(got.State) != string(step.want.State) || got.StreamType != "product" || got.TakenAt.IsZero() {
			t.Errorf("%s: stored %+v, %v, %v; want %+v", step.name, got, ok, err, step.want)
		}
	}
	if saved, err := s.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: "missing", StreamType: "product", Version: 1, State: []byte("x")}); saved || err != nil {
		t.Errorf("snapshot of a stream without events: %v, %v", saved, err)
	}
}

func TestSaveSnapshotRefusesMalformedSnapshots(t *testing.T) {
	s, _, _ := newStore(t)
	for name, snap := range map[string]eventstore.Snapshot{
		"no stream id":   {StreamType: "product", Version: 1, State: []byte("x")},
		"no stream type": {StreamID: "product-1", Version: 1, State: []byte("x")},
		"version 0":      {StreamID: "product-1", StreamType: "product", State: []byte("x")},
		"no state":       {StreamID: "product-1", StreamType: "product", Version: 1},
	} {
		if _, err := s.SaveSnapshot(context.Background(), snap); !errors.Is(err, eventstore.ErrInvalidWrite) {
			t.Errorf("%s: err = %v, want ErrInvalidWrite", name, err)
		}
	}
}
