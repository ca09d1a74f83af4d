package jaegerapi

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Reference types of Span.References.
const (
	// ChildOf names a span's parent.
	ChildOf = "CHILD_OF"
	// FollowsFrom is how Jaeger shows an OpenTelemetry span link.
	FollowsFrom = "FOLLOWS_FROM"
)

// Trace is one trace as the query API returns it.
type Trace struct {
	TraceID   string             `json:"traceID"`
	Spans     []Span             `json:"spans"`
	Processes map[string]Process `json:"processes"`
	Warnings  []string           `json:"warnings"`
}

// Span is one span of a trace. StartMicros and DurationMicros are Jaeger's microsecond
// fields; Start and Duration give them as time values.
type Span struct {
	TraceID        string      `json:"traceID"`
	SpanID         string      `json:"spanID"`
	OperationName  string      `json:"operationName"`
	References     []Reference `json:"references"`
	StartMicros    int64       `json:"startTime"`
	DurationMicros int64       `json:"duration"`
	Tags           []KeyValue  `json:"tags"`
	Logs           []Log       `json:"logs"`
	ProcessID      string      `json:"processID"`
	Warnings       []string    `json:"warnings"`
	// ServiceName is the service.name of the span's process, filled in by the client.
	ServiceName string `json:"-"`
}

// Reference points from a span to another span, possibly in another trace.
type Reference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// Process is the emitter of spans: its service name and resource attributes as tags.
type Process struct {
	ServiceName string     `json:"serviceName"`
	Tags        []KeyValue `json:"tags"`
}

// Log is a span event.
type Log struct {
	Timestamp int64      `json:"timestamp"`
	Fields    []KeyValue `json:"fields"`
}

// KeyValue is a tag: Type is string, bool, int64, float64 or binary; Value is what JSON
// decodes it to (numbers as float64).
type KeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// resolve fills every span's ServiceName from the trace's processes.
func (tr *Trace) resolve() {
	for i := range tr.Spans {
		tr.Spans[i].ServiceName = tr.Processes[tr.Spans[i].ProcessID].ServiceName
	}
}

// Start is the span's start time.
func (s Span) Start() time.Time { return time.UnixMicro(s.StartMicros) }

// Duration is how long the span lasted.
func (s Span) Duration() time.Duration { return time.Duration(s.DurationMicros) * time.Microsecond }

// End is the span's end time.
func (s Span) End() time.Time { return s.Start().Add(s.Duration()) }

// ParentID is the span id of the span's parent (its CHILD_OF reference), "" for a root.
func (s Span) ParentID() string {
	for _, r := range s.References {
		if r.RefType == ChildOf {
			return r.SpanID
		}
	}
	return ""
}

// Links are the span's OpenTelemetry links (its FOLLOWS_FROM references).
func (s Span) Links() []Reference {
	var links []Reference
	for _, r := range s.References {
		if r.RefType == FollowsFrom {
			links = append(links, r)
		}
	}
	return links
}

// Tag returns the value of the span's tag key and whether it is present.
func (s Span) Tag(key string) (any, bool) {
	for _, kv := range s.Tags {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// StringTag returns the span's tag key formatted as a string, "" when absent.
func (s Span) StringTag(key string) string {
	v, ok := s.Tag(key)
	if !ok {
		return ""
	}
	if str, isStr := v.(string); isStr {
		return str
	}
	return fmt.Sprint(v)
}

// Span returns the span with the given id, or nil.
func (tr Trace) Span(spanID string) *Span {
	for i := range tr.Spans {
		if tr.Spans[i].SpanID == spanID {
			return &tr.Spans[i]
		}
	}
	return nil
}

// Find returns the spans with the given operation name, in start order.
func (tr Trace) Find(operation string) []Span {
	var out []Span
	for _, s := range tr.Spans {
		if s.OperationName == operation {
			out = append(out, s)
		}
	}
	sortByStart(out)
	return out
}

// Children returns the spans whose parent is spanID, in start order.
func (tr Trace) Children(spanID string) []Span {
	var out []Span
	for _, s := range tr.Spans {
		if s.ParentID() == spanID {
			out = append(out, s)
		}
	}
	sortByStart(out)
	return out
}

// Roots returns the spans without a parent in the trace (a parent that has not arrived yet
// makes its child look like a root), in start order.
func (tr Trace) Roots() []Span {
	var out []Span
	for _, s := range tr.Spans {
		if p := s.ParentID(); p == "" || tr.Span(p) == nil {
			out = append(out, s)
		}
	}
	sortByStart(out)
	return out
}

// Ancestors returns the chain of parents of spanID, nearest first, as far as the trace has
// them.
func (tr Trace) Ancestors(spanID string) []Span {
	var out []Span
	seen := map[string]bool{spanID: true}
	for s := tr.Span(spanID); s != nil; {
		p := s.ParentID()
		if p == "" || seen[p] {
			break
		}
		seen[p] = true
		if s = tr.Span(p); s != nil {
			out = append(out, *s)
		}
	}
	return out
}

// Services returns the distinct service names of the trace's spans, sorted.
func (tr Trace) Services() []string {
	var out []string
	for _, s := range tr.Spans {
		if !slices.Contains(out, s.ServiceName) {
			out = append(out, s.ServiceName)
		}
	}
	sort.Strings(out)
	return out
}

// String summarizes the trace for failure messages: one "service/operation" per span in
// start order, with parents' operation names.
func (tr Trace) String() string {
	spans := slices.Clone(tr.Spans)
	sortByStart(spans)
	var b strings.Builder
	fmt.Fprintf(&b, "trace %s, %d spans:", tr.TraceID, len(spans))
	for _, s := range spans {
		fmt.Fprintf(&b, "\n  %s/%s (%s)", s.ServiceName, s.OperationName, s.Duration())
		if p := tr.Span(s.ParentID()); p != nil {
			fmt.Fprintf(&b, " child of %s", p.OperationName)
		}
		if n := len(s.Links()); n > 0 {
			fmt.Fprintf(&b, " links=%d", n)
		}
	}
	return b.String()
}

func sortByStart(spans []Span) {
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].StartMicros < spans[j].StartMicros })
}
