package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/console"
	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/projections"
)

// newAdmin returns the console service over the write API's three databases, with fresh
// dead-letter topics and read models under a test prefix.
func newAdmin(t testing.TB, w *writeAPI) *console.Service {
	t.Helper()
	topics := testenv.Topics(t, 1, "orders.dlt", "inventory.dlt", "payments.dlt", "projections.dlt")
	cfg := console.Config{
		Brokers: testenv.Config(t).KafkaBrokers, Kafka: testenv.Kafka(t), ES: testenv.Elastic(t),
		Projections: projections.Config{Brokers: testenv.Config(t).KafkaBrokers, IndexPrefix: testenv.Name("adm") + "_",
			DeadLetterTopic: topics[3], Log: slog.New(slog.DiscardHandler)},
		Log: slog.New(slog.DiscardHandler),
		Contexts: []console.Context{
			{Name: "orders", Store: w.ordersDB.store, DeadLetterTopic: topics[0]},
			{Name: "inventory", Store: w.inventory.store, DeadLetterTopic: topics[1]},
			{Name: "payments", Store: w.payments.store, DeadLetterTopic: topics[2]},
		},
	}
	svc, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// newAdminAPI serves the write API and the admin API of every context on fresh databases.
func newAdminAPI(t testing.TB) *writeAPI {
	t.Helper()
	w := newWriteAPI(t)
	api.RegisterAdminRoutes(w.e, newAdmin(t, w))
	return w
}

// adminToken holds the admin scope the admin routes need.
var adminToken = tokenFor(auth.TokenSpec{Subject: "operator-test", Scopes: []string{auth.ScopeAdmin}})

// admin sends a request with an operator's token.
func (w *writeAPI) admin(method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set(echo.HeaderAuthorization, "Bearer "+adminToken)
	if body != "" {
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	rec := httptest.NewRecorder()
	w.e.ServeHTTP(rec, req)
	return rec
}

// decodeOK checks a 200 answer and decodes it into v.
func decodeOK(t testing.TB, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200: %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
}

// A product restocked 120 times: its events come a page at a time, and its state at any
// version is what the domain folds, whether a snapshot is at, before or after the version.
func TestAdminStreamEventsAndTimeTravel(t *testing.T) {
	w := newAdminAPI(t)
	p := wantResult(t, w.post("/v1/products", `{"sku":"TT-1","name":"Clock","price_cents":500,"currency":"EUR","initial_stock":1}`), http.StatusCreated)
	for range 119 {
		wantResult(t, w.post("/v1/products/"+p.ID+"/restock", `{"quantity":2}`), http.StatusOK)
	}
	stream := "product-" + p.ID

	var page console.EventPage
	decodeOK(t, w.admin(http.MethodGet, "/v1/streams/"+stream+"/events?limit=50", ""), &page)
	if page.Version != 120 || len(page.Events) != 50 || page.Events[0].EventType != "ProductRegistered" || page.NextFromVersion != 51 {
		t.Fatalf("first page: version %d, %d events, next %d", page.Version, len(page.Events), page.NextFromVersion)
	}
	page = console.EventPage{}
	decodeOK(t, w.admin(http.MethodGet, "/v1/streams/"+stream+"/events?from_version=101&limit=50", ""), &page)
	if len(page.Events) != 20 || page.Events[0].Version != 101 || page.NextFromVersion != 0 || page.Events[0].CorrelationID == "" {
		t.Fatalf("last page: %d events from %d, next %d", len(page.Events), page.Events[0].Version, page.NextFromVersion)
	}

	for _, v := range []int64{1, 40, 50, 77, 120} {
		var st struct {
			AtVersion    int64 `json:"at_version"`
			FromSnapshot int64 `json:"from_snapshot_version"`
			Applied      int64 `json:"events_applied"`
			State        struct {
				Available int64  `json:"available"`
				SKU       string `json:"sku"`
			} `json:"state"`
		}
		decodeOK(t, w.admin(http.MethodGet, fmt.Sprintf("/v1/streams/%s/state?version=%d", stream, v), ""), &st)
		if want := 1 + 2*(v-1); st.State.Available != want || st.AtVersion != v || st.State.SKU != "TT-1" {
			t.Errorf("state at %d: available %d (want %d), at %d", v, st.State.Available, want, st.AtVersion)
		}
		if st.FromSnapshot > v || st.FromSnapshot+st.Applied != v {
			t.Errorf("state at %d folded from snapshot %d plus %d events", v, st.FromSnapshot, st.Applied)
		}
	}

	var at console.State
	decodeOK(t, w.admin(http.MethodGet, "/v1/streams/"+stream+"/state?at="+page.Events[0].RecordedAt.Format(time.RFC3339Nano), ""), &at)
	if at.AtVersion != 101 {
		t.Errorf("state at the time of version 101 folded version %d", at.AtVersion)
	}
	// Both bounds: the earlier one wins.
	recorded := page.Events[0].RecordedAt.Format(time.RFC3339Nano)
	for q, want := range map[string]int64{"version=60&at=" + recorded: 60, "version=110&at=" + recorded: 101} {
		var both console.State
		decodeOK(t, w.admin(http.MethodGet, "/v1/streams/"+stream+"/state?"+q, ""), &both)
		if both.AtVersion != want {
			t.Errorf("state?%s folded version %d, want %d", q, both.AtVersion, want)
		}
	}
	wantProblem(t, w.admin(http.MethodGet, "/v1/streams/"+stream+"/state?version=121", ""), http.StatusNotFound)
	wantProblem(t, w.admin(http.MethodGet, "/v1/streams/"+stream+"/state?version=121&at="+recorded, ""), http.StatusNotFound)
	wantProblem(t, w.admin(http.MethodGet, "/v1/streams/"+stream+"/state?at=2001-01-01T00:00:00Z", ""), http.StatusNotFound)
}

// A listing by type is paged with the next_before of the previous page, which names its
// type: the next page is the same with type given or not.
func TestAdminStreamsArePagedByBefore(t *testing.T) {
	w := newAdminAPI(t)
	for i := range 3 {
		wantResult(t, w.post("/v1/products", fmt.Sprintf(`{"sku":"PG-%d","name":"Page","price_cents":100,"currency":"EUR"}`, i)), http.StatusCreated)
	}
	var first struct {
		Streams    []console.Stream `json:"streams"`
		NextBefore string           `json:"next_before"`
	}
	decodeOK(t, w.admin(http.MethodGet, "/v1/streams?type=product&limit=2", ""), &first)
	if len(first.Streams) != 2 || first.NextBefore != first.Streams[1].StreamID {
		t.Fatalf("first page: %d streams, next_before %q", len(first.Streams), first.NextBefore)
	}
	for _, q := range []string{"type=product&before=" + first.NextBefore, "before=" + first.NextBefore} {
		var next struct {
			Streams []console.Stream `json:"streams"`
		}
		decodeOK(t, w.admin(http.MethodGet, "/v1/streams?limit=2&"+q, ""), &next)
		if len(next.Streams) != 1 || slices.ContainsFunc(first.Streams, func(s console.Stream) bool { return s.StreamID == next.Streams[0].StreamID }) {
			t.Errorf("?%s: %+v, want the third product's stream", q, next.Streams)
		}
	}
}

// Bad parameters of the admin routes are answered with problems naming each one.
func TestAdminBadParameters(t *testing.T) {
	w := newAdminAPI(t)
	id := "order-0190c2d1-7f3a-7cc1-9a43-3c7b5e0f1a2b"
	cases := []struct {
		method, path, body string
		status             int
		fields             []string
	}{
		{"GET", "/v1/streams/Order-1/events", "", 400, []string{"path.id"}},
		{"GET", "/v1/streams/" + id + "/events?from_version=0&limit=501&x=1", "", 400, []string{"query.from_version", "query.limit", "query.x"}},
		{"GET", "/v1/streams/" + id + "/events", "", 404, nil},
		{"GET", "/v1/streams/" + id + "/state?at=yesterday", "", 400, []string{"query.at"}},
		{"GET", "/v1/streams?type=widget", "", 400, []string{"query.type"}},
		{"GET", "/v1/streams?before=order-1", "", 400, []string{"query.before"}},
		{"GET", "/v1/streams?type=order&before=widget-" + id[len(id)-36:], "", 400, []string{"query.before"}},
		{"GET", "/v1/streams?type=order&before=", "", 400, []string{"query.before"}},
		{"GET", "/v1/orders/not-a-uuid/journey", "", 400, []string{"path.id"}},
		{"GET", "/v1/orders/0190c2d1-7f3a-7cc1-9a43-3c7b5e0f1a2b/journey", "", 404, nil},
		{"GET", "/v1/dead-letters/shipping", "", 400, []string{"path.source"}},
		{"POST", "/v1/dead-letters/orders/redrive", `{"letters":[],"all":false}`, 400, []string{"body.letters"}},
		{"POST", "/v1/dead-letters/orders/redrive", `{"all":true,"letters":["x"]}`, 400, []string{"body.all"}},
		{"POST", "/v1/dead-letters/orders/redrive", `{"everything":true}`, 400, []string{"body"}},
		{"POST", "/v1/dead-letters/orders/redrive", `{"letters":["orders.dlt/0/99"]}`, 404, []string{"letters[0]"}},
		{"POST", "/v1/read-models/widgets/rebuild", "", 400, []string{"path.name"}},
		{"GET", "/v1/read-models/orders/rebuild", "", 404, nil},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			wantProblem(t, w.admin(c.method, c.path, c.body), c.status, c.fields...)
		})
	}
}

// A placed order's journey holds its OrderPlaced; a search by its id finds its stream.
func TestAdminJourneyAndFind(t *testing.T) {
	w := newAdminAPI(t)
	o := wantResult(t, w.post("/v1/orders", `{"customer_id":"0190c2d1-7f3a-7cc1-9a43-3c7b5e0f1a2b",
		"lines":[{"product_id":"0190c2d1-7f3a-7cc1-9a43-3c7b5e0f1a2c","quantity":1}]}`), http.StatusAccepted)
	var j console.Journey
	decodeOK(t, w.admin(http.MethodGet, "/v1/orders/"+o.ID+"/journey", ""), &j)
	if j.Status != "pending" || len(j.Steps) != 1 || j.Steps[0].EventType != "OrderPlaced" || j.TraceURL != "" {
		t.Fatalf("journey: %+v", j)
	}
	var found struct {
		Streams []console.Stream `json:"streams"`
	}
	decodeOK(t, w.admin(http.MethodGet, "/v1/streams?q="+o.ID, ""), &found)
	if len(found.Streams) != 1 || found.Streams[0].StreamID != "order-"+o.ID || found.Streams[0].Context != "orders" {
		t.Fatalf("found %+v", found.Streams)
	}
	decodeOK(t, w.admin(http.MethodGet, "/v1/streams?type=order&limit=5", ""), &found)
	if len(found.Streams) != 1 || found.Streams[0].Version != 1 {
		t.Fatalf("listed %+v", found.Streams)
	}
}

// The admin routes need the admin scope, from any address: a staff or a customer token
// gets 403 (even for the customer's own order's journey), none 401.
func TestAdminRoutesNeedTheAdminScope(t *testing.T) {
	w := newAdminAPI(t)
	customer := uuid.NewString()
	own := wantResult(t, w.post("/v1/orders", `{"customer_id":"`+customer+`","lines":[{"product_id":"`+uuid.NewString()+`","quantity":1}]}`), http.StatusAccepted).ID
	for _, path := range []string{"/v1/overview", "/v1/streams?q=x", "/v1/read-models", "/v1/orders/" + own + "/journey"} {
		for _, tok := range []string{staffToken, customerToken(customer)} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.RemoteAddr = "127.0.0.1:5555"
			req.Header.Set(echo.HeaderAuthorization, "Bearer "+tok)
			rec := httptest.NewRecorder()
			w.e.ServeHTTP(rec, req)
			if p := wantProblem(t, rec, http.StatusForbidden); p.Code != "insufficient_scope" {
				t.Errorf("%s: %+v", path, p)
			}
		}
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = "127.0.0.1:5555"
		rec := httptest.NewRecorder()
		w.e.ServeHTTP(rec, req)
		wantProblem(t, rec, http.StatusUnauthorized)
	}
	// The stream browser shows who caused each event.
	var page struct {
		Events []console.Event `json:"events"`
	}
	decodeOK(t, w.admin(http.MethodGet, "/v1/streams/order-"+own+"/events", ""), &page)
	if len(page.Events) != 1 || page.Events[0].Principal == nil || page.Events[0].Principal.Subject != "staff-test" {
		t.Errorf("stream browser: %+v", page.Events)
	}
	rec := w.admin(http.MethodGet, "/v1/overview", "")
	if rec.Code != http.StatusServiceUnavailable { // nothing sampled: the service's Run is not running
		body, _ := io.ReadAll(rec.Body)
		t.Fatalf("admin overview before a sample: %d %s", rec.Code, body)
	}
}

// A stream of 100,000 events is read a page at a time, and folded at any version or time
// (the fold applies FoldPage events at a time; no snapshot helps here).
func TestAdminLongStream(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 100,000 events")
	}
	w := newAdminAPI(t)
	p := wantResult(t, w.post("/v1/products", `{"sku":"LONG-1","name":"Long","price_cents":100,"currency":"EUR","initial_stock":1}`), http.StatusCreated)
	stream := "product-" + p.ID
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := w.inventory.pool.Exec(ctx(t), `
INSERT INTO events (stream_id, stream_type, version, event_id, event_type, payload, recorded_at)
SELECT $1, 'product', v, gen_random_uuid(), 'StockAdded', json_build_object('product_id', $2::text, 'quantity', 1),
       $3::timestamptz + v * interval '1 millisecond'
FROM generate_series(2, 100000) AS v`, stream, p.ID, base); err != nil {
		t.Fatal(err)
	}
	var page console.EventPage
	decodeOK(t, w.admin(http.MethodGet, "/v1/streams/"+stream+"/events?from_version=99951&limit=500", ""), &page)
	if page.Version != 100_000 || len(page.Events) != 50 || page.Events[49].Version != 100_000 || page.NextFromVersion != 0 {
		t.Fatalf("last page: head %d, %d events, next %d", page.Version, len(page.Events), page.NextFromVersion)
	}
	type state struct {
		AtVersion int64 `json:"at_version"`
		Applied   int64 `json:"events_applied"`
		State     struct {
			Available int64 `json:"available"`
		} `json:"state"`
	}
	for _, q := range []struct {
		query   string
		version int64
	}{{"version=100000", 100_000}, {"version=50000", 50_000}, {"", 100_000},
		{"at=" + base.Add(70_000*time.Millisecond).Format(time.RFC3339Nano), 70_000}} {
		var st state
		decodeOK(t, w.admin(http.MethodGet, "/v1/streams/"+stream+"/state?"+q.query, ""), &st)
		if st.AtVersion != q.version || st.State.Available != q.version || st.Applied != q.version {
			t.Errorf("state ?%s: version %d, available %d, %d applied; want %d", q.query, st.AtVersion, st.State.Available, st.Applied, q.version)
		}
	}
}

// A browser on the console's pages hands its token over on the sign-in page, which keeps
// it in a cookie: the guard reads it on /console routes only, sends a page it refuses to
// the sign-in page with the reason, and the sign-in form takes no post from another site
// and no redirect off the console.
func TestConsoleTokenCookie(t *testing.T) {
	w := newWriteAPI(t)
	svc := newAdmin(t, w)
	pages, err := console.NewPages(svc, api.AdminAccessNote)
	if err != nil {
		t.Fatal(err)
	}
	api.RegisterAdminRoutes(w.e, svc, pages)
	send := func(method, path, cookie string, form url.Values, headers ...string) *httptest.ResponseRecorder {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req := httptest.NewRequest(method, path, body)
		if form != nil {
			req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
		}
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: api.ConsoleTokenCookie, Value: cookie})
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		rec := httptest.NewRecorder()
		w.e.ServeHTTP(rec, req)
		return rec
	}
	toLogin := func(rec *httptest.ResponseRecorder, next, why string) {
		t.Helper()
		loc, _ := url.Parse(rec.Header().Get("Location"))
		if rec.Code != http.StatusSeeOther || loc.Path != api.ConsoleLoginPath || loc.Query().Get("next") != next ||
			!strings.Contains(loc.Query().Get("why"), why) {
			t.Errorf("answer %d, Location %q; want the sign-in page for %s saying %q", rec.Code, loc, next, why)
		}
	}
	toLogin(send(http.MethodGet, "/console/read-models", "", nil), "/console/read-models", "bearer token")
	toLogin(send(http.MethodGet, "/console/streams?type=order", staffToken, nil), "/console/streams?type=order", "admin")
	if rec := send(http.MethodGet, "/console/read-models", adminToken, nil); rec.Code != http.StatusOK ||
		!strings.HasPrefix(rec.Header().Get(echo.HeaderContentType), "text/html") {
		t.Errorf("read models with the admin cookie: %d %s", rec.Code, rec.Header().Get(echo.HeaderContentType))
	}
	wantProblem(t, send(http.MethodGet, "/v1/read-models", adminToken, nil), http.StatusUnauthorized) // the API takes headers only
	if rec := send(http.MethodGet, api.ConsoleLoginPath, "", nil); rec.Code != http.StatusOK {
		t.Errorf("sign-in page: %d", rec.Code)
	}

	rec := send(http.MethodPost, api.ConsoleLoginPath, "", url.Values{"token": {adminToken}, "next": {"/console/streams"}}, "Origin", "http://example.com")
	ck := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/console/streams" || len(ck) != 1 ||
		ck[0].Value != adminToken || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Path != "/console" {
		t.Errorf("sign in: %d, Location %q, cookies %+v", rec.Code, rec.Header().Get("Location"), ck)
	}
	if rec := send(http.MethodPost, api.ConsoleLoginPath, "", url.Values{"token": {adminToken}, "next": {"//evil.example/x"}}); rec.Header().Get("Location") != "/console" {
		t.Errorf("sign in with an off-site next went to %q", rec.Header().Get("Location"))
	}
	if rec := send(http.MethodPost, api.ConsoleLoginPath, "", url.Values{"token": {adminToken}}, "Origin", "http://evil.example"); rec.Code != http.StatusForbidden {
		t.Errorf("sign in posted from another site: %d", rec.Code)
	}
	if rec := send(http.MethodPost, "/console/read-models/orders/rebuild", adminToken, url.Values{}, "Sec-Fetch-Site", "cross-site"); rec.Code != http.StatusForbidden {
		t.Errorf("rebuild posted from another site: %d", rec.Code)
	}
}
