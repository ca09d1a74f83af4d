package jaegerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is returned by Trace when Jaeger has no span of the trace (yet).
var ErrNotFound = errors.New("trace not found")

// Polling bounds of WaitTrace and WaitTraces: the interval starts at MinPoll and doubles up
// to MaxPoll, so a trace that is there at once costs one request and a slow one a request a
// second.
const (
	MinPoll = 100 * time.Millisecond
	MaxPoll = time.Second
)

// Client calls one Jaeger's HTTP query API. The zero value is not usable: use New.
type Client struct {
	base string
	http *http.Client
}

// New returns a client for the query API under baseURL (the UI's address, e.g.
// http://127.0.0.1:16686). Each request times out after 10 s.
func New(baseURL string) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), http: &http.Client{Timeout: 10 * time.Second}}
}

// BaseURL is the address the client was made with, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// TraceURL is the UI page of a trace.
func (c *Client) TraceURL(traceID string) string { return c.base + "/trace/" + traceID }

// Query selects traces for Traces. Service is required by Jaeger; the rest is optional.
type Query struct {
	// Service is the service.name of at least one span of each trace.
	Service string
	// Operation, if set, is the name of such a span.
	Operation string
	// Tags are attribute values that one span of each trace has (all of them, on one span).
	Tags map[string]string
	// Start and End bound the spans' start times; Jaeger's default window is the last 2 days.
	Start, End time.Time
	// MinDuration and MaxDuration bound the duration of the matching span.
	MinDuration, MaxDuration time.Duration
	// Limit is how many traces at most (Jaeger's default: 100).
	Limit int
}

// values encodes q as the query string of GET /api/traces.
func (q Query) values() (url.Values, error) {
	v := url.Values{"service": {q.Service}}
	set := func(key, val string, ok bool) {
		if ok {
			v.Set(key, val)
		}
	}
	set("operation", q.Operation, q.Operation != "")
	set("start", strconv.FormatInt(q.Start.UnixMicro(), 10), !q.Start.IsZero())
	set("end", strconv.FormatInt(q.End.UnixMicro(), 10), !q.End.IsZero())
	set("minDuration", q.MinDuration.String(), q.MinDuration > 0)
	set("maxDuration", q.MaxDuration.String(), q.MaxDuration > 0)
	set("limit", strconv.Itoa(q.Limit), q.Limit > 0)
	if len(q.Tags) > 0 {
		tags, err := json.Marshal(q.Tags)
		if err != nil {
			return nil, fmt.Errorf("encode tags: %w", err)
		}
		v.Set("tags", string(tags))
	}
	return v, nil
}

// response is the envelope of every query API answer.
type response[T any] struct {
	Data   T `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

// Trace fetches one trace by its 32-hex-digit id. It returns ErrNotFound (wrapped) when
// Jaeger has none of its spans.
func (c *Client) Trace(ctx context.Context, traceID string) (Trace, error) {
	var traces []Trace
	if err := c.get(ctx, "/api/traces/"+url.PathEscape(traceID), nil, &traces); err != nil {
		return Trace{}, fmt.Errorf("get trace %s: %w", traceID, err)
	}
	if len(traces) == 0 {
		return Trace{}, fmt.Errorf("get trace %s: %w", traceID, ErrNotFound)
	}
	return traces[0], nil
}

// Traces searches traces (GET /api/traces). The order is Jaeger's: newest first.
func (c *Client) Traces(ctx context.Context, q Query) ([]Trace, error) {
	if q.Service == "" {
		return nil, errors.New("search traces: Query.Service is required")
	}
	v, err := q.values()
	if err != nil {
		return nil, fmt.Errorf("search traces: %w", err)
	}
	var traces []Trace
	if err := c.get(ctx, "/api/traces", v, &traces); err != nil {
		return nil, fmt.Errorf("search traces of %s: %w", q.Service, err)
	}
	return traces, nil
}

// Services lists the service names Jaeger has spans of.
func (c *Client) Services(ctx context.Context) ([]string, error) {
	var services []string
	if err := c.get(ctx, "/api/services", nil, &services); err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return services, nil
}

// get calls path with the query values and decodes the envelope's data into out. A 404
// is ErrNotFound; another error status carries Jaeger's message.
func (c *Client) get(ctx context.Context, path string, v url.Values, out any) error {
	u := c.base + path
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if res.StatusCode == http.StatusNotFound {
		return ErrNotFound
	}
	return decode(res.StatusCode, body, out)
}

// decode unpacks a query API answer; for traces it also resolves service names.
func decode(status int, body []byte, out any) error {
	env := response[json.RawMessage]{}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("status %d, undecodable body %.200q: %w", status, body, err)
	}
	if status != http.StatusOK {
		msgs := make([]string, 0, len(env.Errors))
		for _, e := range env.Errors {
			msgs = append(msgs, e.Msg)
		}
		return fmt.Errorf("status %d: %s", status, strings.Join(msgs, "; "))
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("decode data: %w", err)
	}
	if traces, ok := out.(*[]Trace); ok {
		for i := range *traces {
			(*traces)[i].resolve()
		}
	}
	return nil
}

// WaitTrace polls Trace until pred holds for the trace (a nil pred: until it exists) or ctx
// ends, waiting MinPoll, then twice as long each time up to MaxPoll. On timeout the error
// wraps ctx's error and says what was last seen, and the last trace read is returned.
func (c *Client) WaitTrace(ctx context.Context, traceID string, pred func(Trace) bool) (Trace, error) {
	var seen Trace
	var lastErr error
	err := poll(ctx, func() bool {
		tr, err := c.Trace(ctx, traceID)
		if err != nil {
			if ctx.Err() == nil { // not a request cut short by ctx itself
				lastErr = err
			}
			return false
		}
		seen, lastErr = tr, nil
		return pred == nil || pred(tr)
	})
	if err == nil {
		return seen, nil
	}
	what := "nothing"
	switch {
	case lastErr != nil:
		what = lastErr.Error()
	case seen.TraceID != "":
		what = seen.String()
	}
	return seen, fmt.Errorf("wait for trace %s: %w; last seen: %s", traceID, err, what)
}

// WaitTraces polls Traces until pred holds for the result or ctx ends (see WaitTrace).
func (c *Client) WaitTraces(ctx context.Context, q Query, pred func([]Trace) bool) ([]Trace, error) {
	var seen []Trace
	var lastErr error
	err := poll(ctx, func() bool {
		traces, err := c.Traces(ctx, q)
		if err != nil {
			if ctx.Err() == nil {
				lastErr = err
			}
			return false
		}
		seen, lastErr = traces, nil
		return pred(traces)
	})
	if err == nil {
		return seen, nil
	}
	what := fmt.Sprintf("%d traces", len(seen))
	if lastErr != nil {
		what = lastErr.Error()
	}
	return seen, fmt.Errorf("wait for traces of %s: %w; last seen: %s", q.Service, err, what)
}

// poll calls done until it returns true (nil) or ctx ends (ctx's error), backing off from
// MinPoll to MaxPoll between calls.
func poll(ctx context.Context, done func() bool) error {
	wait := MinPoll
	for {
		if done() {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, MaxPoll)
	}
}
