package api_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/health"
)

// panicking is a handler that panics.
type panicking[C any] struct{}

func (panicking[C]) Handle(context.Context, C, command.Options) (command.Result, error) {
	panic("handler bug")
}

// logRecord is a request log line.
type logRecord struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	URI    string `json:"uri"`
	Status int    `json:"status"`
	Err    string `json:"err"`
}

// TestRequestLogRecordsStatusSent: the request log and the request metric record the
// status the error handler sent, and a 5xx's log carries its error.
func TestRequestLogRecordsStatusSent(t *testing.T) {
	tests := []struct {
		name    string
		handler api.CommandHandler[command.CancelOrder]
		status  int
		err     string
		fields  []string
	}{
		{"invalid", failing[command.CancelOrder]{&domain.ValidationError{Fields: []domain.FieldError{{Field: "reason", Reason: "bad"}}}}, 422, "", []string{"reason"}},
		{"internal error", failing[command.CancelOrder]{errors.New("disk on fire")}, 500, "disk on fire", nil},
		{"not found", failing[command.CancelOrder]{&command.NotFoundError{Type: "order", ID: "x"}}, 404, "", nil},
		{"panic", panicking[command.CancelOrder]{}, 500, "handler bug", nil},
		{"unavailable", failing[command.CancelOrder]{fmt.Errorf("load: %w", io.ErrUnexpectedEOF)}, 503, "unexpected EOF", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &syncBuffer{}
			reg := prometheus.NewRegistry()
			e := api.New(withAuth(api.Options{Log: slog.New(slog.NewJSONHandler(logs, nil)), Health: health.NewChecker(time.Second), Registry: reg}))
			h := api.OrderCommands{Keys: command.NewIdempotencyKeys(&eventstore.Store{}), CancelOrder: tt.handler}
			if err := api.RegisterWriteRoutes(e, api.WriteHandlers{Orders: &h}); err != nil {
				t.Fatal(err)
			}
			w := &writeAPI{e: e}
			wantProblem(t, w.post("/v1/orders/"+uuid.NewString()+"/cancel", ""), tt.status, tt.fields...)
			rec := requestLog(t, logs.String())
			if rec.Status != tt.status || !strings.Contains(rec.Err, tt.err) || (tt.err == "") != (rec.Err == "") {
				t.Errorf("logged status %d, err %q; want %d, %q", rec.Status, rec.Err, tt.status, tt.err)
			}
			if wantLevel := map[int]string{500: "ERROR", 503: "WARN"}[tt.status]; rec.Level != cmp.Or(wantLevel, "INFO") {
				t.Errorf("level %s, want %s", rec.Level, wantLevel)
			}
			if n := measured(t, reg, strconv.Itoa(tt.status)); n != 1 {
				t.Errorf("%d requests measured with status %d, want 1", n, tt.status)
			}
		})
	}
}

// requestLog returns the one "request" record of a JSON log.
func requestLog(t testing.TB, log string) logRecord {
	t.Helper()
	var found []logRecord
	for sc := bufio.NewScanner(strings.NewReader(log)); sc.Scan(); {
		var rec logRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if rec.Msg == "request" {
			found = append(found, rec)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d request records, want 1:\n%s", len(found), log)
	}
	return found[0]
}

// measured returns how many requests the request metric counted with the given status.
func measured(t testing.TB, reg *prometheus.Registry, status string) uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, f := range families {
		if f.GetName() != "shopflow_http_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "status" && l.GetValue() == status {
					n += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return n
}

// /readyz?exclude= leaves the named checks out of the answer's status but still reports
// them; an exclude that names no check excludes nothing and is listed; an unknown
// parameter is a 400 naming it.
func TestReadyzExcludesTheChecksAProbeNames(t *testing.T) {
	h := health.NewChecker(time.Second)
	h.Add("kafka", func(context.Context) error { return nil })
	h.Add("elasticsearch", func(context.Context) error { return errors.New("connection refused") })
	h.Add("projection_orders", func(context.Context) error { return errors.New("not joined") })
	e := api.New(api.Options{Log: slog.New(slog.DiscardHandler), Health: h, Registry: prometheus.NewRegistry()})
	get := func(target string) (int, string) {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec.Code, rec.Body.String()
	}
	for target, want := range map[string]int{
		"/readyz":                       http.StatusServiceUnavailable,
		"/readyz?exclude=elasticsearch": http.StatusServiceUnavailable,
		"/readyz?exclude=elasticsearch&exclude=projection_*": http.StatusOK,
		"/readyz?exclude=elastic&exclude=projection_*":       http.StatusServiceUnavailable,
		"/readyz?verbose=1": http.StatusBadRequest,
	} {
		code, body := get(target)
		if code != want {
			t.Errorf("GET %s = %d, want %d: %s", target, code, want, body)
		}
	}
	if _, body := get("/readyz?exclude=elasticsearch&exclude=projection_*"); !strings.Contains(body, `"elasticsearch":{"status":"down","error":"connection refused"`) ||
		!strings.Contains(body, `"excluded":true`) {
		t.Errorf("the excluded checks are not reported as they are: %s", body)
	}
	if _, body := get("/readyz?exclude=elastic&exclude=projection_*"); !strings.Contains(body, `"unmatched_exclude":["elastic"]`) {
		t.Errorf("the exclude that names no check is not listed: %s", body)
	}
	if _, body := get("/readyz?verbose=1"); !strings.Contains(body, `"field":"query.verbose"`) {
		t.Errorf("the 400 does not name query.verbose: %s", body)
	}
}
