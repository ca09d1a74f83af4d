package command

import (
	"context"
	"errors"
	"testing"

	"github.com/shopflow/shopflow/eventstore"
)

// captureStore records the write it is given.
type captureStore struct{ w eventstore.Write }

func (s *captureStore) Load(context.Context, string, int64) ([]eventstore.RecordedEvent, error) {
	return nil, nil
}

func (s *captureStore) Write(_ context.Context, w eventstore.Write) (map[string]int64, error) {
	s.w = w
	return nil, nil
}

func ev(n int) eventstore.EventData {
	return eventstore.EventData{Type: "E", Payload: []byte(`{"n":` + string(rune('0'+n)) + `}`)}
}

// Decisions that follow each other on a stream become one append; every inbox entry is
// kept; streams are written in stream id order.
func TestUnitMergesAppendsPerStream(t *testing.T) {
	var u, v Unit
	u.Append(eventstore.StreamAppend{StreamID: "product-b", StreamType: "product", ExpectedVersion: 4, Events: []eventstore.EventData{ev(1)}},
		eventstore.StreamAppend{StreamID: "empty", StreamType: "x"})
	u.Inbox(InboxEntry{Consumer: "c", MessageID: "m1"})
	v.Append(eventstore.StreamAppend{StreamID: "product-b", StreamType: "product", ExpectedVersion: 5, Events: []eventstore.EventData{ev(2)}},
		eventstore.StreamAppend{StreamID: "order_reservation-a", StreamType: "order_reservation", Events: []eventstore.EventData{ev(3)}})
	v.Inbox(InboxEntry{Consumer: "c", MessageID: "m2"})
	u.Include(&v)
	var s captureStore
	if _, err := u.Write(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	w := s.w
	if len(w.Appends) != 2 || w.Appends[0].StreamID != "order_reservation-a" || w.Appends[1].StreamID != "product-b" ||
		w.Appends[1].ExpectedVersion != 4 || len(w.Appends[1].Events) != 2 {
		t.Fatalf("appends = %+v", w.Appends)
	}
	if w.Inbox == nil || w.Inbox.MessageID != "m1" || len(w.Inboxes) != 1 || w.Inboxes[0].MessageID != "m2" {
		t.Fatalf("inbox %+v, inboxes %+v", w.Inbox, w.Inboxes)
	}
}

// Two decisions on one stream that did not see each other (both at the same version)
// cannot be merged: nothing is written.
func TestUnitRefusesAppendsThatDoNotFollow(t *testing.T) {
	var u Unit
	u.Append(eventstore.StreamAppend{StreamID: "s", StreamType: "t", ExpectedVersion: 2, Events: []eventstore.EventData{ev(1)}},
		eventstore.StreamAppend{StreamID: "s", StreamType: "t", ExpectedVersion: 2, Events: []eventstore.EventData{ev(2)}})
	s := captureStore{}
	if _, err := u.Write(context.Background(), &s); !errors.Is(err, ErrVersionConflict) || s.w.Appends != nil {
		t.Fatalf("Write: %v, wrote %+v", err, s.w)
	}
}
