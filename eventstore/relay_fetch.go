package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Published describes an event the relay has published and Kafka acknowledged.
type Published struct {
	Cursor     Cursor
	EventID    string
	StreamID   string
	Version    int64
	RecordedAt time.Time
}

// outgoing is an event as the relay reads it: its envelope, encoded straight from the
// columns (payload and metadata are stored verbatim as json, so they are copied, never
// decoded), and the fields the record headers need.
type outgoing struct {
	Published
	streamType, eventType, schemaVersion string
	traceParent, traceState              string
	envelope                             []byte
}

// relayReadSQL is readAllSQL's gap-safe scan, with only the columns the relay needs.
const relayReadSQL = `SELECT transaction_id::text::bigint AS txid, position, event_id::text, stream_id, version,
	recorded_at, stream_type, event_type, schema_version, metadata, payload
FROM events
WHERE (transaction_id, position) > ($1::text::xid8, $2)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, position
LIMIT $3`

func (r *Relay) fetch(ctx context.Context, conn *pgx.Conn, after Cursor) ([]outgoing, error) {
	rows, err := conn.Query(ctx, relayReadSQL, after.xid(), after.Position, r.cfg.BatchSize)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	out := make([]outgoing, 0, r.cfg.BatchSize)
	var o outgoing
	var schema int
	var meta, payload []byte
	_, err = pgx.ForEachRow(rows, []any{&o.Cursor.TransactionID, &o.Cursor.Position, &o.EventID, &o.StreamID,
		&o.Version, &o.RecordedAt, &o.streamType, &o.eventType, &schema, &meta, &payload}, func() error {
		o.schemaVersion = strconv.Itoa(schema)
		o.traceParent, o.traceState = traceContext(meta)
		o.envelope = appendEnvelope(make([]byte, 0, 256+len(meta)+len(payload)), o.EventID, o.eventType, schema,
			o.StreamID, o.streamType, o.Version, o.Cursor.Position, o.RecordedAt, meta, payload)
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// traceContext extracts the W3C trace context from raw metadata, decoding only when present.
func traceContext(meta []byte) (parent, state string) {
	if !bytes.Contains(meta, []byte(`"trace`)) {
		return "", ""
	}
	var m Metadata
	if json.Unmarshal(meta, &m) != nil {
		return "", ""
	}
	return m.TraceParent, m.TraceState
}

var envelopeVersion = []byte(strconv.Itoa(EnvelopeVersion))

// record builds the Kafka record of o, with the same headers as Envelope.Record.
func (o *outgoing) record(topic string) *kgo.Record {
	h := make([]kgo.RecordHeader, 6, 8)
	h[0] = kgo.RecordHeader{Key: HeaderEnvelopeVersion, Value: envelopeVersion}
	h[1] = kgo.RecordHeader{Key: HeaderContentType, Value: []byte("application/json")}
	h[2] = kgo.RecordHeader{Key: HeaderEventType, Value: []byte(o.eventType)}
	h[3] = kgo.RecordHeader{Key: HeaderEventID, Value: []byte(o.EventID)}
	h[4] = kgo.RecordHeader{Key: HeaderSchemaVersion, Value: []byte(o.schemaVersion)}
	h[5] = kgo.RecordHeader{Key: HeaderStreamType, Value: []byte(o.streamType)}
	if o.traceParent != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderTraceParent, Value: []byte(o.traceParent)})
	}
	if o.traceState != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderTraceState, Value: []byte(o.traceState)})
	}
	return &kgo.Record{Topic: topic, Key: []byte(o.StreamID), Value: o.envelope, Headers: h}
}
