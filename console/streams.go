package console

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/sagas"
)

// StreamType is a kind of stream and the context whose database holds it.
type StreamType struct {
	Name    string `json:"name"`
	Context string `json:"context"`
	// Foldable reports whether time travel can fold its aggregate.
	Foldable bool `json:"foldable"`
}

// streamTypes are every stream type, by context.
var streamTypes = []StreamType{
	{order.AggregateType, sagas.Orders, true},
	{order.SettlementAggregateType, sagas.Orders, true},
	{inventory.ProductAggregateType, sagas.Inventory, true},
	{inventory.ReservationAggregateType, sagas.Inventory, true},
	{payment.AggregateType, sagas.Payments, true},
	{payment.OrderPaymentAggregateType, sagas.Payments, true},
	{sagas.DeclineStreamType, sagas.Payments, false},
}

// StreamTypes returns every stream type of the contexts served.
func (s *Service) StreamTypes() []StreamType {
	var out []StreamType
	for _, t := range streamTypes {
		if _, ok := s.contexts[t.Context]; ok {
			out = append(out, t)
		}
	}
	return out
}

// ParseStreamID splits a stream id "<type>-<uuid>" of a known type. ok is false otherwise.
func ParseStreamID(streamID string) (t StreamType, id string, ok bool) {
	for _, st := range streamTypes {
		rest, found := strings.CutPrefix(streamID, st.Name+"-")
		if u, err := uuid.Parse(rest); found && err == nil && len(rest) == 36 && u.String() == rest {
			return st, rest, true
		}
	}
	return StreamType{}, "", false
}

// stream resolves a stream id to its type, aggregate id and context, or a not-found error.
func (s *Service) stream(streamID string) (StreamType, string, *Context, error) {
	t, id, ok := ParseStreamID(streamID)
	if !ok {
		return t, "", nil, notFound("no stream type of this console is named like %q (ids are <type>-<uuid>)", streamID)
	}
	c, ok := s.contexts[t.Context]
	if !ok {
		return t, "", nil, notFound("stream %s belongs to context %s, which this process does not host", streamID, t.Context)
	}
	return t, id, c, nil
}

// Event is a stored event as the console shows it.
type Event struct {
	Context       string    `json:"context"`
	StreamID      string    `json:"stream_id"`
	StreamType    string    `json:"stream_type"`
	Version       int64     `json:"version"`
	Position      int64     `json:"position"`
	EventID       string    `json:"event_id"`
	EventType     string    `json:"event_type"`
	SchemaVersion int       `json:"schema_version"`
	RecordedAt    time.Time `json:"recorded_at"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	CausationID   string    `json:"causation_id,omitempty"`
	TraceParent   string    `json:"traceparent,omitempty"`
	// Principal is who caused the event (the API's caller, through the saga chain).
	Principal *eventstore.Principal `json:"principal,omitempty"`
	// Payload is the event as stored, at SchemaVersion.
	Payload json.RawMessage `json:"payload"`
	// Upcast, for an event stored at an older schema version than its type's current one
	// (CurrentSchemaVersion), is the payload as every reader sees it: upcast by the
	// domain's upcasters. An event whose upcast fails has UpcastError instead.
	CurrentSchemaVersion int             `json:"current_schema_version,omitempty"`
	Upcast               json.RawMessage `json:"upcast,omitempty"`
	UpcastError          string          `json:"upcast_error,omitempty"`
}

// registry holds every context's event types and their upcasters.
var registry = func() *domain.Registry {
	r := domain.NewRegistry()
	order.Register(r)
	order.RegisterSettlement(r)
	inventory.Register(r)
	payment.Register(r)
	return r
}()

func eventOf(contextName string, e eventstore.RecordedEvent) Event {
	ev := Event{Context: contextName, StreamID: e.StreamID, StreamType: e.StreamType, Version: e.Version,
		Position: e.Position, EventID: e.ID.String(), EventType: e.Type, SchemaVersion: e.SchemaVersion,
		RecordedAt: e.RecordedAt, CorrelationID: e.Metadata.CorrelationID, CausationID: e.Metadata.CausationID,
		TraceParent: e.Metadata.TraceParent, Principal: e.Metadata.Principal, Payload: e.Payload}
	if current := registry.SchemaVersion(e.Type); current > max(e.SchemaVersion, 1) {
		ev.CurrentSchemaVersion = current
		up, _, err := registry.Upcast(e.Type, e.SchemaVersion, e.Payload)
		if err != nil {
			ev.UpcastError = err.Error()
		}
		ev.Upcast = up
	}
	return ev
}

// Stream is a stream's head: its type, context, version and the times of its first and
// last events.
type Stream struct {
	StreamID   string    `json:"stream_id"`
	StreamType string    `json:"stream_type"`
	Context    string    `json:"context"`
	Version    int64     `json:"version"`
	First      time.Time `json:"first_recorded_at"`
	Last       time.Time `json:"last_recorded_at"`
	LastType   string    `json:"last_event_type"`
}

func streamOf(contextName string, h eventstore.StreamHead) Stream {
	return Stream{StreamID: h.StreamID, StreamType: h.StreamType, Context: contextName, Version: h.Version, First: h.First, Last: h.Last, LastType: h.LastType}
}

// Page sizes of event and stream pages.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// EventPage is a page of a stream's events.
type EventPage struct {
	Stream
	FromVersion int64   `json:"from_version"`
	Events      []Event `json:"events"`
	// NextFromVersion is the from_version of the next page, 0 at the end.
	NextFromVersion int64 `json:"next_from_version,omitempty"`
}

// Events returns up to limit events of a stream from version fromVersion (≥ 1) on. A stream
// without events is not found.
func (s *Service) Events(ctx context.Context, streamID string, fromVersion int64, limit int) (EventPage, error) {
	_, _, c, err := s.stream(streamID)
	if err != nil {
		return EventPage{}, err
	}
	h, err := c.Store.Head(ctx, streamID)
	if err != nil {
		return EventPage{}, headError(streamID, err)
	}
	evs, err := c.Store.LoadRange(ctx, streamID, fromVersion-1, math.MaxInt64, limit)
	if err != nil {
		return EventPage{}, err
	}
	p := EventPage{Stream: streamOf(c.Name, h), FromVersion: fromVersion, Events: make([]Event, len(evs))}
	for i, e := range evs {
		p.Events[i] = eventOf(c.Name, e)
	}
	if n := len(evs); n > 0 && evs[n-1].Version < h.Version {
		p.NextFromVersion = evs[n-1].Version + 1
	}
	return p, nil
}

func headError(streamID string, err error) error {
	if err == eventstore.ErrNotFound {
		return notFound("stream %s has no events", streamID)
	}
	return err
}

// Streams returns up to limit streams of a type, newest first, after the stream id before
// ("": from the newest).
func (s *Service) Streams(ctx context.Context, streamType, before string, limit int) ([]Stream, error) {
	for _, t := range s.StreamTypes() {
		if t.Name != streamType {
			continue
		}
		heads, err := s.contexts[t.Context].Store.Streams(ctx, streamType, before, limit)
		out := make([]Stream, len(heads))
		for i, h := range heads {
			out[i] = streamOf(t.Context, h)
		}
		return out, err
	}
	return nil, notFound("no stream type %q", streamType)
}

// Find returns the streams a search names: a stream id, or an aggregate id (a UUID: every
// stream of any type with that id, such as an order's own and its per-order streams).
func (s *Service) Find(ctx context.Context, q string) ([]Stream, error) {
	q = strings.TrimSpace(q)
	candidates := []string{q}
	if u, err := uuid.Parse(q); err == nil {
		candidates = candidates[:0]
		for _, t := range s.StreamTypes() {
			candidates = append(candidates, t.Name+"-"+u.String())
		}
	}
	var out []Stream
	for _, id := range candidates {
		_, _, c, err := s.stream(id)
		if err != nil {
			continue
		}
		h, err := c.Store.Head(ctx, id)
		if err == eventstore.ErrNotFound {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, streamOf(c.Name, h))
	}
	return out, nil
}

// State is an aggregate as it was at one version of its stream.
type State struct {
	Stream
	// AtVersion is the version folded; RecordedAt that event's time.
	AtVersion  int64     `json:"at_version"`
	RecordedAt time.Time `json:"recorded_at"`
	// FromSnapshot is the snapshot version the fold started at (0: from the first event);
	// Applied counts the events applied by the domain code.
	FromSnapshot int64 `json:"from_snapshot_version"`
	Applied      int64 `json:"events_applied"`
	// State is the aggregate's state, as its domain type reports it.
	State any `json:"state"`
}

// State folds a stream's aggregate as it was at version (0: its newest) or, when at is not
// zero, at time at, with the domain's own code (see command.Repository.LoadAt). Both are
// upper bounds: given both, the fold stops at the earlier (the version, or the last one
// recorded by at). A version past the head, or a time before the first event, is not found.
func (s *Service) State(ctx context.Context, streamID string, version int64, at time.Time) (State, error) {
	t, id, c, err := s.stream(streamID)
	if err != nil {
		return State{}, err
	}
	h, err := c.Store.Head(ctx, streamID)
	if err != nil {
		return State{}, headError(streamID, err)
	}
	if version > h.Version {
		return State{}, notFound("stream %s has %d events, not %d", streamID, h.Version, version)
	}
	if version == 0 {
		version = h.Version
	}
	if !at.IsZero() {
		byTime, err := c.Store.VersionAt(ctx, streamID, at)
		if err != nil {
			return State{}, err
		}
		if byTime == 0 {
			return State{}, notFound("stream %s did not exist yet at %s (its first event is of %s)",
				streamID, at.Format(time.RFC3339Nano), h.First.Format(time.RFC3339Nano))
		}
		version = min(version, byTime)
	}
	fold, ok := s.folders[t.Name]
	if !ok {
		return State{}, notFound("stream type %s has no aggregate to fold", t.Name)
	}
	st := State{Stream: streamOf(c.Name, h), AtVersion: version}
	if st.State, st.FromSnapshot, st.Applied, err = fold(ctx, c.Store, id, version); err != nil {
		return st, fmt.Errorf("console: fold %s at %d: %w", streamID, version, err)
	}
	evs, err := c.Store.LoadRange(ctx, streamID, version-1, version, 1)
	if err == nil && len(evs) == 1 {
		st.RecordedAt = evs[0].RecordedAt
	}
	return st, err
}
