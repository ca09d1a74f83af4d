package console

import (
	"encoding/json"
	"testing"
)

// The waterfall puts parents above their children, children by start, and every bar on the
// trace's time axis; a link to another trace is counted, not drawn as a parent.
func TestWaterfallOrdersSpansByCausalityAndTime(t *testing.T) {
	const raw = `{"spans":[
	 {"spanID":"c","operationName":"inventory react OrderPlaced","references":[{"refType":"CHILD_OF","spanID":"b"}],"startTime":1000300,"duration":100,"processID":"p1",
	  "tags":[{"key":"shopflow.context","value":"inventory"}]},
	 {"spanID":"a","operationName":"POST /v1/orders","references":[],"startTime":1000000,"duration":1000,"processID":"p1","tags":[]},
	 {"spanID":"d","operationName":"projections index orders","references":[{"refType":"CHILD_OF","spanID":"b"},{"refType":"FOLLOWS_FROM","spanID":"zz"}],"startTime":1000200,"duration":50,"processID":"p1",
	  "tags":[{"key":"otel.status_code","value":"ERROR"}]},
	 {"spanID":"b","operationName":"eventstore append","references":[{"refType":"CHILD_OF","spanID":"a"}],"startTime":1000100,"duration":200,"processID":"p1","tags":[]}],
	 "processes":{"p1":{"serviceName":"shopflow"}}}`
	var tr jaegerTrace
	if err := json.Unmarshal([]byte(raw), &tr); err != nil {
		t.Fatal(err)
	}
	v := waterfall(tr)
	want := []struct {
		name  string
		depth int
	}{{"POST /v1/orders", 0}, {"eventstore append", 1}, {"projections index orders", 2}, {"inventory react OrderPlaced", 2}}
	if len(v.Spans) != len(want) {
		t.Fatalf("%d rows, want %d", len(v.Spans), len(want))
	}
	for i, w := range want {
		if r := v.Spans[i]; r.Name != w.name || r.Depth != w.depth {
			t.Errorf("row %d = %s at depth %d, want %s at %d", i, r.Name, r.Depth, w.name, w.depth)
		}
	}
	if v.TotalMS != 1 || v.Spans[1].LeftPct != 10 || v.Spans[1].WidthPct != 20 {
		t.Errorf("total %v ms, append at %v%% for %v%%", v.TotalMS, v.Spans[1].LeftPct, v.Spans[1].WidthPct)
	}
	if r := v.Spans[2]; r.Links != 1 || !r.Error {
		t.Errorf("index row: links %d, error %v; want 1, true", r.Links, r.Error)
	}
	if v.Spans[3].Context != "inventory" || v.Spans[3].Service != "shopflow" {
		t.Errorf("react row: %+v", v.Spans[3])
	}
}
