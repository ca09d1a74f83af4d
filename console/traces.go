package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/shopflow/shopflow/domain"
)

// Traces. The console draws a trace's waterfall from the trace backend's HTTP query API
// (Jaeger's GET /api/traces/{id}, served at TraceUIURL), so that an order's hops can be
// seen where Jaeger's own UI is not available (the Jaeger built from the Go module by
// `make up` has none).

// TraceView is one trace as the console's waterfall shows it.
type TraceView struct {
	TraceID string
	// UIURL is the trace's page in the trace UI.
	UIURL string
	// Start is the first span's start; TotalMS how long the trace lasted.
	Start   time.Time
	TotalMS float64
	Spans   []SpanRow
}

// SpanRow is one span of a waterfall: parents above their children, children by start.
type SpanRow struct {
	Name, Service, Context string
	Depth                  int
	// StartMS is when the span started, from the trace's start; DurationMS how long it took.
	StartMS, DurationMS float64
	// LeftPct and WidthPct place its bar on the trace's time axis.
	LeftPct, WidthPct float64
	Links             int
	Error             bool
}

// ErrNoTraceUI: the console has no trace backend to ask (TraceUIURL is not set).
var ErrNoTraceUI = errors.New("console: no trace UI configured (SHOPFLOW_TRACE_UI_URL)")

var validTraceID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Trace reads trace id from the trace backend. Errors: ErrNoTraceUI, one wrapping
// domain.ErrNotFound when the backend does not hold it, or the backend's failure.
func (s *Service) Trace(ctx context.Context, id string) (TraceView, error) {
	if s.cfg.TraceUIURL == "" {
		return TraceView{}, ErrNoTraceUI
	}
	if !validTraceID.MatchString(id) {
		return TraceView{}, fmt.Errorf("trace id %q: %w", id, errNotFoundTrace)
	}
	raw, err := s.fetchTrace(ctx, id)
	if err != nil {
		return TraceView{}, err
	}
	v := waterfall(raw)
	v.TraceID, v.UIURL = id, s.traceURL(id)
	return v, nil
}

// errNotFoundTrace is the not-found error of Trace (isNotFound holds for it).
var errNotFoundTrace = fmt.Errorf("console: the trace backend holds no such trace: %w", domain.ErrNotFound)

// jaegerTrace is what the console reads of Jaeger's trace JSON.
type jaegerTrace struct {
	Spans []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		StartTime int64  `json:"startTime"` // µs since the epoch
		Duration  int64  `json:"duration"`  // µs
		ProcessID string `json:"processID"`
		Tags      []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// fetchTrace asks the backend for one trace, for at most five seconds.
func (s *Service) fetchTrace(ctx context.Context, id string) (jaegerTrace, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.TraceUIURL+"/api/traces/"+id, nil)
	if err != nil {
		return jaegerTrace{}, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return jaegerTrace{}, fmt.Errorf("console: trace backend: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return jaegerTrace{}, fmt.Errorf("console: trace backend: %w", err)
	}
	if res.StatusCode == http.StatusNotFound {
		return jaegerTrace{}, fmt.Errorf("trace %s: %w", id, errNotFoundTrace)
	}
	if res.StatusCode != http.StatusOK {
		return jaegerTrace{}, fmt.Errorf("console: trace backend answered %s", res.Status)
	}
	var out struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return jaegerTrace{}, fmt.Errorf("console: trace backend: %w", err)
	}
	if len(out.Data) == 0 {
		return jaegerTrace{}, fmt.Errorf("trace %s: %w", id, errNotFoundTrace)
	}
	return out.Data[0], nil
}

// waterfall orders a trace's spans depth first, each parent's children by start time, and
// places them on the trace's time axis.
func waterfall(tr jaegerTrace) TraceView {
	children := map[string][]int{}
	ids := map[string]bool{}
	for _, sp := range tr.Spans {
		ids[sp.SpanID] = true
	}
	var roots []int
	first, last := int64(0), int64(0)
	for i, sp := range tr.Spans {
		parent := ""
		for _, r := range sp.References {
			if r.RefType == "CHILD_OF" && ids[r.SpanID] {
				parent = r.SpanID
			}
		}
		if parent == "" {
			roots = append(roots, i)
		} else {
			children[parent] = append(children[parent], i)
		}
		if first == 0 || sp.StartTime < first {
			first = sp.StartTime
		}
		last = max(last, sp.StartTime+sp.Duration)
	}
	byStart := func(a, b int) int { return cmp.Compare(tr.Spans[a].StartTime, tr.Spans[b].StartTime) }
	total := float64(max(last-first, 1))
	v := TraceView{Start: time.UnixMicro(first), TotalMS: total / 1000}
	var walk func(i, depth int)
	walk = func(i, depth int) {
		sp := tr.Spans[i]
		row := SpanRow{Name: sp.OperationName, Service: tr.Processes[sp.ProcessID].ServiceName, Depth: depth,
			StartMS: float64(sp.StartTime-first) / 1000, DurationMS: float64(sp.Duration) / 1000,
			LeftPct: float64(sp.StartTime-first) * 100 / total, WidthPct: max(float64(sp.Duration)*100/total, 0.3),
			Links: len(sp.References) - boolInt(depth > 0)}
		for _, t := range sp.Tags {
			switch t.Key {
			case "shopflow.context", "shopflow.projection", "db.namespace":
				row.Context = cmp.Or(row.Context, fmt.Sprint(t.Value))
			case "error", "otel.status_code":
				row.Error = row.Error || t.Value == true || t.Value == "ERROR"
			}
		}
		v.Spans = append(v.Spans, row)
		kids := children[sp.SpanID]
		slices.SortFunc(kids, byStart)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	slices.SortFunc(roots, byStart)
	for _, r := range roots {
		walk(r, 0)
	}
	return v
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
