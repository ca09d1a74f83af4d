package eventstore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/eventstore"
)

func sampleEnvelope() eventstore.Envelope {
	return eventstore.Envelope{EventID: uuid.Must(uuid.NewV7()), EventType: "OrderPlaced", SchemaVersion: 1,
		StreamID: "order-1", StreamType: "order", Version: 3, Position: 42,
		RecordedAt: time.Date(2026, 11, 25, 18, 0, 0, 123456000, time.UTC),
		Metadata:   eventstore.Metadata{CorrelationID: "c", TraceParent: "00-abc-def-01"},
		Payload:    json.RawMessage(`{"qty":1}`)}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	env := sampleEnvelope()
	rec, err := env.Record("orders.events")
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Key) != "order-1" || rec.Topic != "orders.events" {
		t.Errorf("key %q topic %q", rec.Key, rec.Topic)
	}
	got, err := eventstore.Decode(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.EventID != env.EventID || got.Version != 3 || !got.RecordedAt.Equal(env.RecordedAt) ||
		got.Metadata.TraceParent != "00-abc-def-01" || string(got.Payload) != `{"qty":1}` {
		t.Errorf("decoded %+v, want %+v", got, env)
	}
	if !json.Valid(rec.Value) {
		t.Errorf("value is not JSON: %s", rec.Value)
	}
}

func TestDecodeRejectsWhatItCannotRead(t *testing.T) {
	good, err := sampleEnvelope().Record("t")
	if err != nil {
		t.Fatal(err)
	}
	withHeaders := func(hs ...kgo.RecordHeader) []kgo.RecordHeader { return hs }
	cases := []struct {
		name string
		rec  *kgo.Record
	}{
		{"no envelope version", &kgo.Record{Key: good.Key, Value: good.Value}},
		{"unknown envelope version", &kgo.Record{Key: good.Key, Value: good.Value,
			Headers: withHeaders(kgo.RecordHeader{Key: eventstore.HeaderEnvelopeVersion, Value: []byte("99")})}},
		{"garbage value", &kgo.Record{Key: good.Key, Value: []byte("{nope"), Headers: good.Headers}},
		{"key is not the stream", &kgo.Record{Key: []byte("other"), Value: good.Value, Headers: good.Headers}},
		{"missing version", &kgo.Record{Key: good.Key, Value: bytes.Replace(good.Value, []byte(`"version":3`), []byte(`"version":0`), 1), Headers: good.Headers}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := eventstore.Decode(c.rec, nil); !errors.Is(err, eventstore.ErrUndecodable) {
				t.Fatalf("err = %v, want ErrUndecodable", err)
			}
		})
	}
}

func TestUpcastersApplyInOrder(t *testing.T) {
	var up eventstore.Upcasters
	up.Register("OrderPlaced", 1, func(p json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(`{"quantity":1}`), nil // v1 "qty" renamed
	})
	up.Register("OrderPlaced", 2, func(p json.RawMessage) (json.RawMessage, error) {
		return append(p[:len(p)-1:len(p)-1], `,"currency":"EUR"}`...), nil // v3 adds a default
	})
	up.Register("OrderCancelled", 1, func(json.RawMessage) (json.RawMessage, error) {
		return nil, errors.New("must not run for another type")
	})
	rec, _ := sampleEnvelope().Record("t")
	env, err := eventstore.Decode(rec, &up)
	if err != nil {
		t.Fatal(err)
	}
	if env.SchemaVersion != 3 || string(env.Payload) != `{"quantity":1,"currency":"EUR"}` {
		t.Fatalf("upcast to v%d %s", env.SchemaVersion, env.Payload)
	}
	up.Register("OrderPlaced", 3, func(json.RawMessage) (json.RawMessage, error) { return nil, errors.New("boom") })
	if _, err := eventstore.Decode(rec, &up); !errors.Is(err, eventstore.ErrUndecodable) {
		t.Fatalf("failing upcaster: err = %v, want ErrUndecodable", err)
	}
}
