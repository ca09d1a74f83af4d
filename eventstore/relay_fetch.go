package eventstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/internal/telemetry"
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
	// rec is the Kafka record, built by the reader while the previous batch is in flight.
	rec *kgo.Record
}

// relayReadSQL is readAllSQL's gap-safe scan, with only the columns the relay needs.
const relayReadSQL = `SELECT transaction_id::text::bigint AS txid, position, event_id::text, stream_id, version,
	recorded_at, stream_type, event_type, schema_version, metadata, payload
FROM events
WHERE (transaction_id, position) > ($1::text::xid8, $2)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, position
LIMIT $3`

// relayFormats asks for the numbers and the timestamp in binary and everything else as text
// (for text and json the two are the same bytes), so fetch can read the raw row buffers.
var relayFormats = pgx.QueryResultFormats{1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0}

// fetch reads the next batch, into a slice of capacity sizeHint (grown if more come). It decodes the raw row buffers itself instead of scanning into
// Go values: the relay's read path is its bottleneck, and the envelope is built from the
// bytes Postgres sent (payload and metadata are copied once, into the envelope).
func (r *Relay) fetch(ctx context.Context, conn *pgx.Conn, after Cursor, sizeHint int) ([]outgoing, error) {
	rows, err := conn.Query(ctx, relayReadSQL, relayFormats, after.xid(), after.Position, r.cfg.BatchSize)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	out := make([]outgoing, 0, sizeHint)
	for rows.Next() {
		o, err := decodeOutgoing(rows.RawValues())
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// decodeOutgoing decodes one row of relayReadSQL in relayFormats. The raw values are only
// valid until the next row, so everything kept is copied.
func decodeOutgoing(v [][]byte) (outgoing, error) {
	var o outgoing
	if len(v) != 11 || !sized(v[0], 8) || !sized(v[1], 8) || !sized(v[4], 8) || !sized(v[5], 8) || !sized(v[8], 4) {
		return o, errors.New("unexpected row layout")
	}
	schema := int(int32(binary.BigEndian.Uint32(v[8])))
	meta, payload := v[9], v[10]
	o.Cursor = Cursor{TransactionID: binary.BigEndian.Uint64(v[0]), Position: int64(binary.BigEndian.Uint64(v[1]))}
	o.EventID, o.StreamID, o.Version = string(v[2]), string(v[3]), int64(binary.BigEndian.Uint64(v[4]))
	o.RecordedAt = pgEpoch.Add(time.Duration(int64(binary.BigEndian.Uint64(v[5]))) * time.Microsecond)
	o.streamType, o.eventType, o.schemaVersion = string(v[6]), string(v[7]), strconv.Itoa(schema)
	o.traceParent, o.traceState = traceContext(meta)
	o.envelope = appendEnvelope(make([]byte, 0, 256+len(meta)+len(payload)), o.EventID, o.eventType, schema,
		o.StreamID, o.streamType, o.Version, o.Cursor.Position, o.RecordedAt, meta, payload)
	return o, nil
}

// sized reports whether a binary value has the width of its type (NULL has none).
func sized(b []byte, n int) bool { return b != nil && len(b) == n }

// pgEpoch is where Postgres' binary timestamps count microseconds from.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

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

// record builds the Kafka record of o, with the same headers as Envelope.Record. Its
// Context carries the trace context stored with the event, so that a tracing producer
// publishes it as a child of the span that appended it (see kafka.Tracing).
func (o *outgoing) record(ctx context.Context, topic string) *kgo.Record {
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
	return &kgo.Record{Topic: topic, Key: []byte(o.StreamID), Value: o.envelope, Headers: h,
		Context: telemetry.Extract(ctx, o.traceParent, o.traceState)}
}
