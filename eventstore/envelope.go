package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvelopeVersion is the version of the Kafka record layout below. A consumer must reject
// (dead-letter) a record whose envelope-version header it does not know.
const EnvelopeVersion = 1

// Header names of every event record. They repeat envelope fields so that consumers and
// tools can route and filter without decoding the value.
const (
	HeaderEnvelopeVersion = "envelope-version"
	HeaderContentType     = "content-type"
	HeaderEventType       = "event-type"
	HeaderEventID         = "event-id"
	HeaderSchemaVersion   = "schema-version"
	HeaderStreamType      = "stream-type"
	HeaderTraceParent     = "traceparent" // W3C trace context
	HeaderTraceState      = "tracestate"
)

// Envelope is the value of every record on a <context>.events topic, as JSON. The record key
// is the stream id, so all events of a stream share a partition and keep their order.
//
//	{"event_id":"…","event_type":"OrderPlaced","schema_version":1,"stream_id":"…",
//	 "stream_type":"order","version":3,"position":1234,"recorded_at":"…",
//	 "metadata":{"correlation_id":"…","causation_id":"…","traceparent":"…"},
//	 "payload":{…}}
//
// Consumers deduplicate by (stream_id, version): delivery is at least once. The record's
// own timestamp is the time it was produced; the event's time is recorded_at. (franz-go
// measures its record delivery timeout from the record timestamp, so stamping records with
// an old event time would fail every re-published record at once.)
type Envelope struct {
	EventID       uuid.UUID       `json:"event_id"`
	EventType     string          `json:"event_type"`
	SchemaVersion int             `json:"schema_version"`
	StreamID      string          `json:"stream_id"`
	StreamType    string          `json:"stream_type"`
	Version       int64           `json:"version"`
	Position      int64           `json:"position"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Metadata      Metadata        `json:"metadata"`
	Payload       json.RawMessage `json:"payload"`
}

// EnvelopeOf wraps a stored event.
func EnvelopeOf(e RecordedEvent) Envelope {
	return Envelope{EventID: e.ID, EventType: e.Type, SchemaVersion: e.SchemaVersion, StreamID: e.StreamID,
		StreamType: e.StreamType, Version: e.Version, Position: e.Position, RecordedAt: e.RecordedAt,
		Metadata: e.Metadata, Payload: e.Payload}
}

// Record encodes the envelope as a record for topic.
func (env Envelope) Record(topic string) (*kgo.Record, error) {
	value, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("eventstore: encode %s %s: %w", env.EventType, env.EventID, err)
	}
	h := []kgo.RecordHeader{
		{Key: HeaderEnvelopeVersion, Value: []byte(strconv.Itoa(EnvelopeVersion))},
		{Key: HeaderContentType, Value: []byte("application/json")},
		{Key: HeaderEventType, Value: []byte(env.EventType)},
		{Key: HeaderEventID, Value: []byte(env.EventID.String())},
		{Key: HeaderSchemaVersion, Value: []byte(strconv.Itoa(env.SchemaVersion))},
		{Key: HeaderStreamType, Value: []byte(env.StreamType)},
	}
	if tp := env.Metadata.TraceParent; tp != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderTraceParent, Value: []byte(tp)})
	}
	if ts := env.Metadata.TraceState; ts != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderTraceState, Value: []byte(ts)})
	}
	return &kgo.Record{Topic: topic, Key: []byte(env.StreamID), Value: value, Headers: h}, nil
}

// ErrUndecodable marks a record that can never be decoded: consumers dead-letter it.
var ErrUndecodable = errors.New("eventstore: undecodable record")

// Kind returns the stream type and event type a record's headers announce, without decoding
// it, so that a consumer can pass over the events it ignores cheaply; ok is false when the
// headers are missing (Decode then says what is wrong with the record).
func Kind(r *kgo.Record) (streamType, eventType string, ok bool) {
	streamType, eventType = header(r, HeaderStreamType), header(r, HeaderEventType)
	return streamType, eventType, streamType != "" && eventType != "" &&
		header(r, HeaderEnvelopeVersion) == envelopeVersionText
}

var envelopeVersionText = strconv.Itoa(EnvelopeVersion)

// PayloadUpcaster migrates a payload of eventType written at schema version to the newest
// version it knows, returning that version. *domain.Registry implements it with the
// upcasters the aggregate packages register next to their event types (the one set every
// reader uses); *Upcasters is a stand-alone set for tests of this package.
type PayloadUpcaster interface {
	Upcast(eventType string, version int, payload json.RawMessage) (json.RawMessage, int, error)
}

// Decode reads an event record, checking the envelope version and upcasting its payload
// with up (nil: none), so that the envelope's payload and schema version are the newest.
// Errors wrap ErrUndecodable.
//
// The relay publishes each event as it was stored, at the schema version it was written
// with (the schema-version header): upcasting is the consumers' job, because records
// published by older releases stay on the topics forever and need it anyway.
func Decode(r *kgo.Record, up PayloadUpcaster) (Envelope, error) {
	var env Envelope
	if v := header(r, HeaderEnvelopeVersion); v != strconv.Itoa(EnvelopeVersion) {
		return env, fmt.Errorf("%w: envelope version %q", ErrUndecodable, v)
	}
	if err := json.Unmarshal(r.Value, &env); err != nil {
		return env, fmt.Errorf("%w: %w", ErrUndecodable, err)
	}
	if env.StreamID == "" || env.EventType == "" || env.Version < 1 || string(r.Key) != env.StreamID {
		return env, fmt.Errorf("%w: missing stream id, event type or version", ErrUndecodable)
	}
	if up != nil {
		if err := Apply(&env, up); err != nil {
			return env, fmt.Errorf("%w: %w", ErrUndecodable, err)
		}
	}
	return env, nil
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Upcaster rewrites the payload of one event type from schema version N to N+1.
type Upcaster func(payload json.RawMessage) (json.RawMessage, error)

type upcastKey struct {
	eventType string
	from      int
}

// Upcasters is a stand-alone set of payload migrations, a PayloadUpcaster for code that has
// no domain registry (this package's tests). Shopflow's readers upcast with the domain's
// registry instead, where each aggregate package registers its upcasters. Register all
// upcasters before use; Apply and Upcast are then safe for concurrent use.
type Upcasters struct{ m map[upcastKey]Upcaster }

// Register adds the migration of eventType from schema version from to from+1.
func (u *Upcasters) Register(eventType string, from int, fn Upcaster) {
	if u.m == nil {
		u.m = map[upcastKey]Upcaster{}
	}
	u.m[upcastKey{eventType, from}] = fn
}

// Apply upcasts env with up (see Decode) to the newest schema version it knows.
func Apply(env *Envelope, up PayloadUpcaster) error {
	p, v, err := up.Upcast(env.EventType, env.SchemaVersion, env.Payload)
	if err != nil {
		return err
	}
	env.Payload, env.SchemaVersion = p, v
	return nil
}

// Apply upcasts env step by step to the newest schema version that has a registered path.
func (u *Upcasters) Apply(env *Envelope) error {
	p, v, err := u.Upcast(env.EventType, env.SchemaVersion, env.Payload)
	if err != nil {
		return err
	}
	env.Payload, env.SchemaVersion = p, v
	return nil
}

// Upcast migrates the payload of an eventType event of the given schema version step by
// step to the newest version that has a registered path, and returns it with its version.
// A nil *Upcasters returns the payload as it is.
func (u *Upcasters) Upcast(eventType string, version int, payload json.RawMessage) (json.RawMessage, int, error) {
	if u == nil {
		return payload, version, nil
	}
	for {
		fn, ok := u.m[upcastKey{eventType, version}]
		if !ok {
			return payload, version, nil
		}
		p, err := fn(payload)
		if err != nil {
			return nil, version, fmt.Errorf("upcast %s v%d: %w", eventType, version, err)
		}
		payload, version = p, version+1
	}
}
