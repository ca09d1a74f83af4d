package domain

import (
	"errors"
	"reflect"
	"testing"
)

// counter is a minimal aggregate for testing Root.
type counter struct {
	root  Root
	total int
}

func (c *counter) apply(e Event) error {
	te, ok := e.(testEvent)
	if !ok {
		return ErrUnknownEventType
	}
	c.root.SetID(te.ID)
	c.total += te.Count
	return nil
}

func TestRootLoadAndRecord(t *testing.T) {
	c := &counter{}
	if c.root.ID() != "" || c.root.Version() != 0 || c.root.CommittedVersion() != 0 || len(c.root.Changes()) != 0 {
		t.Fatalf("zero Root = %+v", c.root)
	}
	if err := c.root.Load([]Event{testEvent{ID: "c", Count: 1}, testEvent{ID: "c", Count: 2}}, c.apply); err != nil {
		t.Fatal(err)
	}
	if c.root.ID() != "c" || c.total != 3 || c.root.Version() != 2 || c.root.CommittedVersion() != 2 || len(c.root.Changes()) != 0 {
		t.Fatalf("after Load: %+v total %d", c.root, c.total)
	}
	c.root.Record(testEvent{ID: "c", Count: 10}, c.apply)
	c.root.Record(testEvent{ID: "c", Count: 20}, c.apply)
	want := []Event{testEvent{ID: "c", Count: 10}, testEvent{ID: "c", Count: 20}}
	if c.total != 33 || c.root.Version() != 4 || c.root.CommittedVersion() != 2 || !reflect.DeepEqual(c.root.Changes(), want) {
		t.Fatalf("after Record: %+v total %d", c.root, c.total)
	}
	c.root.Changes()[0] = otherEvent{}
	if !reflect.DeepEqual(c.root.Changes(), want) {
		t.Error("Changes exposes the internal slice")
	}
	c.root.MarkCommitted()
	if c.root.Version() != 4 || c.root.CommittedVersion() != 4 || len(c.root.Changes()) != 0 {
		t.Errorf("after MarkCommitted: %+v", c.root)
	}
}

func TestRootLoadStopsAtError(t *testing.T) {
	c := &counter{}
	err := c.root.Load([]Event{testEvent{ID: "c", Count: 1}, otherEvent{}, testEvent{Count: 5}}, c.apply)
	if !errors.Is(err, ErrUnknownEventType) || err.Error() != "apply event 2 (OtherHappened): unknown event type" {
		t.Errorf("err = %v", err)
	}
	if c.total != 1 {
		t.Errorf("applied past the error: total %d", c.total)
	}
}

func TestRootRecordPanicsOnUnappliableEvent(t *testing.T) {
	c := &counter{}
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
		if c.root.Version() != 0 || len(c.root.Changes()) != 0 {
			t.Errorf("root changed: %+v", c.root)
		}
	}()
	c.root.Record(otherEvent{}, c.apply)
}
