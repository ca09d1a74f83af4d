package eventstore

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendEnvelope appends the JSON of an envelope to dst. It is the one encoder of the
// envelope (Envelope.MarshalJSON uses it too); writing the fields by hand keeps the relay's
// hot path free of reflection. metadata and payload are raw JSON, copied verbatim.
func appendEnvelope(dst []byte, eventID, eventType string, schemaVersion int, streamID, streamType string,
	version, position int64, recordedAt time.Time, metadata, payload []byte) []byte {
	dst = append(dst, `{"event_id":`...)
	dst = appendString(dst, eventID)
	dst = append(dst, `,"event_type":`...)
	dst = appendString(dst, eventType)
	dst = append(dst, `,"schema_version":`...)
	dst = strconv.AppendInt(dst, int64(schemaVersion), 10)
	dst = append(dst, `,"stream_id":`...)
	dst = appendString(dst, streamID)
	dst = append(dst, `,"stream_type":`...)
	dst = appendString(dst, streamType)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, version, 10)
	dst = append(dst, `,"position":`...)
	dst = strconv.AppendInt(dst, position, 10)
	dst = append(dst, `,"recorded_at":"`...)
	dst = recordedAt.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","metadata":`...)
	dst = append(dst, orEmptyObject(metadata)...)
	dst = append(dst, `,"payload":`...)
	dst = append(dst, payload...)
	return append(dst, '}')
}

func orEmptyObject(raw []byte) []byte {
	if len(raw) == 0 {
		return []byte("{}")
	}
	return raw
}

// appendString appends s as a JSON string. Plain strings (the common case: ids, type
// names) are copied; anything else goes through encoding/json for exact escaping.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// MarshalJSON encodes the envelope with the same encoder the relay uses.
func (env Envelope) MarshalJSON() ([]byte, error) {
	meta, err := json.Marshal(env.Metadata)
	if err != nil {
		return nil, err
	}
	payload := env.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	return appendEnvelope(nil, env.EventID.String(), env.EventType, env.SchemaVersion, env.StreamID,
		env.StreamType, env.Version, env.Position, env.RecordedAt, meta, payload), nil
}
