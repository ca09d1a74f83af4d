package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/health"
	"github.com/shopflow/shopflow/internal/pii"
	"github.com/shopflow/shopflow/internal/testenv"
)

// db is one migrated service database of a test.
type db struct {
	store *eventstore.Store
	pool  *pgxpool.Pool
}

// newDB returns an event store on a fresh, migrated database, closed and dropped when
// the test ends.
func newDB(t testing.TB) db {
	t.Helper()
	es := testenv.NewEventStore(t)
	return db{store: es.Store, pool: es.Pool}
}

// sealing is the handlers' configuration with the database's customer key store.
func (d db) sealing() command.Config { return command.Config{Keys: pii.NewStore(d.pool)} }

// ctx returns a context that ends with the test (or after a minute).
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// countEvents returns how many events the database holds.
func (d db) countEvents(t testing.TB) int {
	t.Helper()
	var n int
	if err := d.pool.QueryRow(ctx(t), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// events returns the events of a stream.
func (d db) events(t testing.TB, streamID string) []eventstore.RecordedEvent {
	t.Helper()
	events, err := d.store.Load(ctx(t), streamID, 0)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// writeAPI is the write API of all three contexts, each on its own database.
type writeAPI struct {
	e                             *echo.Echo
	inventory, payments, ordersDB db
}

// newWriteAPI serves the write API of every context on fresh databases.
func newWriteAPI(t testing.TB) *writeAPI {
	t.Helper()
	w := &writeAPI{inventory: newDB(t), payments: newDB(t), ordersDB: newDB(t)}
	w.e = newEcho()
	h := api.WriteHandlers{
		Inventory: &api.InventoryCommands{Keys: command.NewIdempotencyKeys(w.inventory.store),
			RegisterProduct: must(command.NewRegisterProductHandler(w.inventory.store, command.Config{}))(t),
			RestockProduct:  must(command.NewRestockProductHandler(w.inventory.store, command.Config{}))(t)},
		Payments: &api.PaymentCommands{Keys: command.NewIdempotencyKeys(w.payments.store),
			OpenAccount:    must(command.NewOpenAccountHandler(w.payments.store, w.payments.sealing()))(t),
			DepositFunds:   must(command.NewDepositFundsHandler(w.payments.store, w.payments.sealing()))(t),
			ForgetCustomer: must(command.NewForgetCustomerHandler(w.payments.store, w.payments.sealing()))(t)},
		Orders: &api.OrderCommands{Keys: command.NewIdempotencyKeys(w.ordersDB.store),
			PlaceOrder:  must(command.NewPlaceOrderHandler(w.ordersDB.store, command.Config{}))(t),
			CancelOrder: must(command.NewCancelOrderHandler(w.ordersDB.store, command.Config{}))(t)},
	}
	if err := api.RegisterWriteRoutes(w.e, h); err != nil {
		t.Fatal(err)
	}
	return w
}

// newEcho returns the server api.New builds, logging nowhere.
func newEcho() *echo.Echo {
	return api.New(withAuth(api.Options{
		Log: slog.New(slog.DiscardHandler), Health: health.NewChecker(time.Second), Registry: prometheus.NewRegistry(),
	}))
}

// must returns v, failing the test on err: must(f())(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// post sends a JSON POST; headers are name, value pairs.
func (w *writeAPI) post(path, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	serve(w.e, rec, req)
	return rec
}

// result is a command response body.
type result struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
	Status  string `json:"status"`
}

// wantResult checks a success response and returns its body.
func wantResult(t testing.TB, rec *httptest.ResponseRecorder, status int) result {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get(echo.HeaderContentType); ct != echo.MIMEApplicationJSON {
		t.Errorf("Content-Type = %q", ct)
	}
	var res result
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	if _, ok := command.ParseID(res.ID); !ok {
		t.Errorf("id %q is not a UUID", res.ID)
	}
	return res
}

// wantProblem checks a problem+json response with exactly the given fields (any order)
// and returns it.
func wantProblem(t testing.TB, rec *httptest.ResponseRecorder, status int, fields ...string) api.Problem {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get(echo.HeaderContentType); ct != api.ProblemContentType {
		t.Errorf("Content-Type = %q", ct)
	}
	var p api.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	got := make([]string, len(p.Errors))
	for i, f := range p.Errors {
		got[i] = f.Field
		if f.Reason == "" {
			t.Errorf("field %s has no reason", f.Field)
		}
	}
	slices.Sort(got)
	slices.Sort(fields)
	if p.Status != status || !slices.Equal(got, fields) {
		t.Errorf("problem %d with fields %v, want %d with %v: %s", p.Status, got, status, fields, rec.Body)
	}
	return p
}

const widgetJSON = `{"sku":"W-1","name":"Widget","description":"blue","price_cents":250,"currency":"EUR","initial_stock":10}`

// product registers a product (with an SKU of its own) and returns its id.
func (w *writeAPI) product(t testing.TB) string {
	t.Helper()
	body := strings.Replace(widgetJSON, `"W-1"`, strconv.Quote(testenv.Name("W")), 1)
	return wantResult(t, w.post("/v1/products", body), http.StatusCreated).ID
}

// customer opens an account (with an email of its own) and returns the customer id.
func (w *writeAPI) customer(t testing.TB) string {
	t.Helper()
	body := fmt.Sprintf(`{"name":"Ada","email":%q}`, testenv.Name("ada")+"@example.com")
	return wantResult(t, w.post("/v1/customers", body), http.StatusCreated).ID
}

// order places an order and returns its id.
func (w *writeAPI) order(t testing.TB) string {
	t.Helper()
	body := fmt.Sprintf(`{"customer_id":%q,"lines":[{"product_id":%q,"quantity":2}]}`, uuid.NewString(), uuid.NewString())
	return wantResult(t, w.post("/v1/orders", body), http.StatusAccepted).ID
}

func TestWriteRoutes(t *testing.T) {
	w := newWriteAPI(t)
	var productID, customerID, orderID string

	t.Run("register product", func(t *testing.T) {
		rec := w.post("/v1/products", widgetJSON, echo.HeaderXRequestID, "req-1")
		res := wantResult(t, rec, http.StatusCreated)
		productID = res.ID
		if want := fmt.Sprintf(`{"id":%q,"version":1}`, res.ID); rec.Body.String() != want {
			t.Errorf("body = %s, want %s", rec.Body, want)
		}
		if loc := rec.Header().Get(echo.HeaderLocation); loc != "/v1/products/"+res.ID {
			t.Errorf("Location = %q", loc)
		}
		events := w.inventory.events(t, "product-"+res.ID)
		if len(events) != 1 || events[0].Type != inventory.TypeProductRegistered || events[0].Metadata.CorrelationID != "req-1" {
			t.Errorf("events = %+v", events)
		}
	})
	t.Run("restock", func(t *testing.T) {
		rec := w.post("/v1/products/"+productID+"/restock", `{"quantity":5}`)
		if want := fmt.Sprintf(`{"id":%q,"version":2}`, productID); rec.Code != http.StatusOK || rec.Body.String() != want {
			t.Errorf("%d %s, want 200 %s", rec.Code, rec.Body, want)
		}
		if rec.Header().Get(echo.HeaderLocation) != "" {
			t.Error("Location on an update")
		}
	})
	t.Run("open account", func(t *testing.T) {
		rec := w.post("/v1/customers", `{"name":"Ada","email":"ada@example.com"}`)
		res := wantResult(t, rec, http.StatusCreated)
		customerID = res.ID
		if res.Version != 1 || rec.Header().Get(echo.HeaderLocation) != "/v1/customers/"+res.ID {
			t.Errorf("%+v, Location %q", res, rec.Header().Get(echo.HeaderLocation))
		}
	})
	t.Run("deposit", func(t *testing.T) {
		rec := w.post("/v1/customers/"+customerID+"/deposits", `{"amount_cents":1000}`)
		if res := wantResult(t, rec, http.StatusOK); res.ID != customerID || res.Version != 2 {
			t.Errorf("result = %+v", res)
		}
	})
	t.Run("place order", func(t *testing.T) {
		body := fmt.Sprintf(`{"customer_id":%q,"lines":[{"product_id":%q,"quantity":2}]}`, customerID, productID)
		rec := w.post("/v1/orders", body)
		res := wantResult(t, rec, http.StatusAccepted)
		orderID = res.ID
		if want := fmt.Sprintf(`{"id":%q,"version":1,"status":"pending"}`, res.ID); rec.Body.String() != want {
			t.Errorf("body = %s, want %s", rec.Body, want)
		}
		if loc := rec.Header().Get(echo.HeaderLocation); loc != "/v1/orders/"+res.ID {
			t.Errorf("Location = %q", loc)
		}
	})
	t.Run("cancel order", func(t *testing.T) {
		rec := w.post("/v1/orders/"+orderID+"/cancel", "")
		if res := wantResult(t, rec, http.StatusAccepted); res != (result{orderID, 2, "cancelled"}) {
			t.Errorf("result = %+v", res)
		}
		again := wantResult(t, w.post("/v1/orders/"+orderID+"/cancel", `{"reason":"twice"}`), http.StatusAccepted)
		if again != (result{orderID, 2, "cancelled"}) {
			t.Errorf("second cancel = %+v", again)
		}
	})
	t.Run("events per database", func(t *testing.T) {
		counts := []int{w.inventory.countEvents(t), w.payments.countEvents(t), w.ordersDB.countEvents(t)}
		if !slices.Equal(counts, []int{2, 2, 2}) {
			t.Errorf("events in inventory, payments, orders = %v, want 2 each", counts)
		}
	})
}

func TestWriteValidation(t *testing.T) {
	w := newWriteAPI(t)
	customer, product, p := w.customer(t), w.product(t), uuid.NewString()
	tooMany := make([]string, order.MaxLines+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf(`{"product_id":%q,"quantity":1}`, uuid.NewString())
	}
	tests := []struct {
		name   string
		path   string
		body   string
		status int
		fields []string
	}{
		{"product: every bad field", "/v1/products",
			`{"sku":" ","name":"","price_cents":-1,"currency":"eur","initial_stock":-3}`,
			422, []string{"sku", "name", "price_cents", "currency", "initial_stock"}},
		{"product: missing price and other bad fields", "/v1/products", `{"sku":"S","name":"N","currency":"euro"}`,
			422, []string{"price_cents", "currency"}},
		{"product: wrong JSON types", "/v1/products",
			`{"sku":5,"name":"N","price_cents":"100","currency":"EUR","initial_stock":1.5}`,
			400, []string{"sku", "price_cents", "initial_stock"}},
		{"product: unknown fields", "/v1/products",
			`{"sku":"S","name":"N","price_cents":1,"currency":"EUR","colour":"red","size":1}`,
			400, []string{"colour", "size"}},
		{"malformed JSON", "/v1/products", `{"sku":`, 400, []string{"body"}},
		{"trailing data", "/v1/products", `{} {}`, 400, []string{"body"}},
		{"not an object", "/v1/customers", `[1]`, 400, []string{"body"}},
		{"null body", "/v1/customers", `null`, 400, []string{"body"}},
		{"empty body", "/v1/customers", ``, 400, []string{"body"}},
		{"customer: every bad field", "/v1/customers", `{"name":"","email":"x"}`, 422, []string{"name", "email"}},
		{"order: every bad field", "/v1/orders", fmt.Sprintf(
			`{"customer_id":"nope","lines":[{"product_id":"p","quantity":0},{"product_id":%q,"quantity":1},{"product_id":%q,"quantity":2}]}`, p, p),
			422, []string{"customer_id", "lines[0].product_id", "lines[0].quantity", "lines[2].product_id"}},
		{"order: no lines", "/v1/orders", fmt.Sprintf(`{"customer_id":%q,"lines":[]}`, customer), 422, []string{"lines"}},
		{"order: missing everything", "/v1/orders", `{}`, 422, []string{"customer_id", "lines"}},
		{"order: too many lines", "/v1/orders",
			fmt.Sprintf(`{"customer_id":%q,"lines":[%s]}`, customer, strings.Join(tooMany, ",")), 422, []string{"lines"}},
		{"order: nested types and unknown fields", "/v1/orders",
			fmt.Sprintf(`{"customer_id":%q,"lines":[{"product_id":1,"quantity":"2","note":"x"},5],"coupon":"X"}`, customer),
			400, []string{"lines[0].product_id", "lines[0].quantity", "lines[0].note", "lines[1]", "coupon"}},
		{"order: lines not an array", "/v1/orders", fmt.Sprintf(`{"customer_id":%q,"lines":{}}`, customer), 400, []string{"lines"}},
		{"restock: bad path id and type", "/v1/products/42/restock", `{"quantity":"x"}`, 400, []string{"path.id", "quantity"}},
		{"restock: missing quantity", "/v1/products/" + product + "/restock", `{}`, 422, []string{"quantity"}},
		{"restock: zero quantity", "/v1/products/" + product + "/restock", `{"quantity":0}`, 422, []string{"quantity"}},
		{"deposit: bad path id", "/v1/customers/not-a-uuid/deposits", `{"amount_cents":1}`, 400, []string{"path.id"}},
		{"deposit: missing amount", "/v1/customers/" + customer + "/deposits", `{"amount_cents":null}`, 422, []string{"amount_cents"}},
		{"deposit: zero amount", "/v1/customers/" + customer + "/deposits", `{"amount_cents":0}`, 422, []string{"amount_cents"}},
		{"cancel: bad path id", "/v1/orders/" + strings.Repeat("x", 36) + "/cancel", ``, 400, []string{"path.id"}},
		{"cancel: unknown field", "/v1/orders/" + uuid.NewString() + "/cancel", `{"why":"x"}`, 400, []string{"why"}},
		{"cancel: reason not a string", "/v1/orders/" + uuid.NewString() + "/cancel", `{"reason":1}`, 400, []string{"reason"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, w.post(tt.path, tt.body, api.HeaderIdempotencyKey, "k-"+tt.name), tt.status, tt.fields...)
		})
	}
	t.Run("nothing stored", func(t *testing.T) {
		if n := w.inventory.countEvents(t) + w.payments.countEvents(t) + w.ordersDB.countEvents(t); n != 2 {
			t.Errorf("%d events, want the 2 of the setup", n)
		}
		if _, err := w.ordersDB.store.Idempotency(ctx(t), "k-order: every bad field"); err != eventstore.ErrNotFound {
			t.Errorf("idempotency record of a failed request: %v", err)
		}
	})
	t.Run("unsupported media type", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/v1/customers", strings.NewReader(`name=Ada`))
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
		rec := httptest.NewRecorder()
		serve(w.e, rec, req)
		wantProblem(t, rec, http.StatusUnsupportedMediaType)
	})
}

func TestWriteErrors(t *testing.T) {
	w := newWriteAPI(t)
	t.Run("not found", func(t *testing.T) {
		id := uuid.NewString()
		for _, path := range []string{"/v1/products/" + id + "/restock", "/v1/customers/" + id + "/deposits"} {
			wantProblem(t, w.post(path, bodyFor(path)), http.StatusNotFound)
		}
		wantProblem(t, w.post("/v1/orders/"+id+"/cancel", ""), http.StatusNotFound)
	})
	t.Run("rule violation", func(t *testing.T) {
		product := w.product(t)
		p := wantProblem(t, w.post("/v1/products/"+product+"/restock", fmt.Sprintf(`{"quantity":%d}`, inventory.MaxStock)), http.StatusConflict)
		if p.Code != "stock_limit_exceeded" {
			t.Errorf("code = %q", p.Code)
		}
		id := w.order(t)
		payload := []byte(`{"order_id":"` + id + `","customer_id":"c","reason":"timeout"}`)
		if _, err := w.ordersDB.store.Append(ctx(t), "order-"+id, "order", 1, eventstore.EventData{Type: order.TypeOrderRejected, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		if p := wantProblem(t, w.post("/v1/orders/"+id+"/cancel", ""), http.StatusConflict); p.Code != "order_not_cancellable" {
			t.Errorf("code = %q", p.Code)
		}
	})
	t.Run("already registered", func(t *testing.T) {
		for _, c := range []struct{ path, first, again, field string }{
			{"/v1/products", `{"sku":"TAKEN-1","name":"A","price_cents":1,"currency":"EUR","initial_stock":1}`,
				`{"sku":" taken-1 ","name":"B","price_cents":2,"currency":"EUR","initial_stock":2}`, "sku"},
			{"/v1/customers", `{"name":"Ada","email":"taken@example.com"}`, `{"name":"Eve","email":"Taken@Example.com"}`, "email"},
		} {
			wantResult(t, w.post(c.path, c.first), http.StatusCreated)
			if p := wantProblem(t, w.post(c.path, c.again), http.StatusConflict, c.field); p.Code != "already_registered" {
				t.Errorf("%s: code = %q, want already_registered", c.path, p.Code)
			}
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		big := `{"sku":"` + strings.Repeat("a", 2<<20) + `"}`
		wantProblem(t, w.post("/v1/products", big), http.StatusRequestEntityTooLarge)
		req := httptest.NewRequest(http.MethodPost, "/v1/products", io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1 // chunked: the limit hits while reading
		rec := httptest.NewRecorder()
		serve(w.e, rec, req)
		wantProblem(t, rec, http.StatusRequestEntityTooLarge)
	})
	t.Run("unknown route", func(t *testing.T) {
		wantProblem(t, w.post("/v1/nothing", `{}`), http.StatusNotFound)
	})
}

// bodyFor returns a valid body for an update route.
func bodyFor(path string) string {
	if strings.HasSuffix(path, "/restock") {
		return `{"quantity":1}`
	}
	return `{"amount_cents":1}`
}

func TestIdempotencyKey(t *testing.T) {
	w := newWriteAPI(t)
	const key = "create-widget-1"

	first := w.post("/v1/products", widgetJSON, api.HeaderIdempotencyKey, key)
	created := wantResult(t, first, http.StatusCreated)
	if first.Header().Get(api.HeaderIdempotentReplay) != "" {
		t.Error("first response marked as replayed")
	}
	t.Run("replay", func(t *testing.T) {
		for _, k := range []string{key, `"` + key + `"`} {
			again := w.post("/v1/products", widgetJSON, api.HeaderIdempotencyKey, k)
			if again.Code != first.Code || again.Body.String() != first.Body.String() ||
				again.Header().Get(echo.HeaderLocation) != first.Header().Get(echo.HeaderLocation) ||
				again.Header().Get(echo.HeaderContentType) != echo.MIMEApplicationJSON {
				t.Errorf("replay = %d %s %v, want %d %s", again.Code, again.Body, again.Header(), first.Code, first.Body)
			}
			if again.Header().Get(api.HeaderIdempotentReplay) != "true" {
				t.Errorf("%s missing", api.HeaderIdempotentReplay)
			}
		}
		if n := w.inventory.countEvents(t); n != 1 {
			t.Errorf("%d events, want 1", n)
		}
	})
	t.Run("different request", func(t *testing.T) {
		other := strings.Replace(widgetJSON, "W-1", "W-2", 1)
		p := wantProblem(t, w.post("/v1/products", other, api.HeaderIdempotencyKey, key), 422, "header.Idempotency-Key")
		if p.Code != "idempotency_key_reused" {
			t.Errorf("code = %q", p.Code)
		}
		wantProblem(t, w.post("/v1/products/"+created.ID+"/restock", widgetJSON, api.HeaderIdempotencyKey, key), 422, "header.Idempotency-Key")
	})
	t.Run("update replay", func(t *testing.T) {
		path := "/v1/products/" + created.ID + "/restock"
		a := wantResult(t, w.post(path, `{"quantity":3}`, api.HeaderIdempotencyKey, "restock-1"), http.StatusOK)
		b := wantResult(t, w.post(path, `{"quantity":3}`, api.HeaderIdempotencyKey, "restock-1"), http.StatusOK)
		if a != b || a.Version != 2 || len(w.inventory.events(t, "product-"+created.ID)) != 2 {
			t.Errorf("results %+v %+v", a, b)
		}
	})
	t.Run("failed request stores nothing", func(t *testing.T) {
		wantProblem(t, w.post("/v1/customers", `{"name":""}`, api.HeaderIdempotencyKey, "open-1"), 422, "name", "email")
		wantResult(t, w.post("/v1/customers", `{"name":"Ada","email":"a@b.c"}`, api.HeaderIdempotencyKey, "open-1"), http.StatusCreated)
	})
	t.Run("metadata", func(t *testing.T) {
		rec := w.post("/v1/customers", `{"name":"Bob","email":"b@b.c"}`, api.HeaderIdempotencyKey, "open-2", echo.HeaderXRequestID, "req-9")
		events := w.payments.events(t, "account-"+wantResult(t, rec, http.StatusCreated).ID)
		if m := events[0].Metadata; m.CorrelationID != "req-9" || m.Extra["idempotency_key"] != "open-2" {
			t.Errorf("metadata = %+v", m)
		}
	})
	t.Run("invalid key", func(t *testing.T) {
		for name, keys := range map[string][]string{
			"too long":     {strings.Repeat("k", api.MaxIdempotencyKeyLength+1)},
			"control char": {"a\x01b"},
			"non-ASCII":    {"clé"},
			"empty":        {""},
			"given twice":  {"a", "b"},
		} {
			var headers []string
			for _, k := range keys {
				headers = append(headers, api.HeaderIdempotencyKey, k)
			}
			t.Run(name, func(t *testing.T) {
				wantProblem(t, w.post("/v1/customers", `{"name":"Ada","email":"a@b.c"}`, headers...), 400, "header.Idempotency-Key")
			})
		}
	})
}

// TestConcurrentIdempotentRequests sends the same request with the same key from many
// clients at once: one command commits, every client gets its response.
func TestConcurrentIdempotentRequests(t *testing.T) {
	const clients = 10
	w := newWriteAPI(t)
	customer := w.customer(t)
	tests := []struct {
		name, path, body string
		d                db
		events           int
	}{
		{"place order", "/v1/orders", fmt.Sprintf(`{"customer_id":%q,"lines":[{"product_id":%q,"quantity":1}]}`, customer, uuid.NewString()), w.ordersDB, 1},
		{"deposit", "/v1/customers/" + customer + "/deposits", `{"amount_cents":100}`, w.payments, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := make([]*httptest.ResponseRecorder, clients)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range recs {
				wg.Go(func() {
					<-start
					recs[i] = w.post(tt.path, tt.body, api.HeaderIdempotencyKey, "same-"+tt.name)
				})
			}
			close(start)
			wg.Wait()
			replayed := 0
			for _, rec := range recs {
				if rec.Code != recs[0].Code || rec.Code >= 300 || rec.Body.String() != recs[0].Body.String() {
					t.Errorf("responses differ: %d %s vs %d %s", rec.Code, rec.Body, recs[0].Code, recs[0].Body)
				}
				if rec.Header().Get(api.HeaderIdempotentReplay) == "true" {
					replayed++
				}
			}
			if replayed != clients-1 {
				t.Errorf("%d replayed responses, want %d", replayed, clients-1)
			}
			if n := tt.d.countEvents(t); n != tt.events {
				t.Errorf("%d events, want %d", n, tt.events)
			}
		})
	}
}

func TestRegisterWriteRoutesConfiguration(t *testing.T) {
	d := newDB(t)
	place := must(command.NewPlaceOrderHandler(d.store, command.Config{}))(t)
	if err := api.RegisterWriteRoutes(newEcho(), api.WriteHandlers{Orders: &api.OrderCommands{PlaceOrder: place}}); err == nil {
		t.Error("no error without Keys")
	}
	e := newEcho()
	if err := api.RegisterWriteRoutes(e, api.WriteHandlers{Orders: &api.OrderCommands{Keys: command.NewIdempotencyKeys(d.store), PlaceOrder: place}}); err != nil {
		t.Fatal(err)
	}
	w := &writeAPI{e: e}
	w.order(t)
	for _, path := range []string{"/v1/products", "/v1/customers", "/v1/orders/" + uuid.NewString() + "/cancel"} {
		wantProblem(t, w.post(path, `{}`), http.StatusNotFound)
	}
}

// lateKeys misses the first lookup of every key, as when a concurrent request with the
// same key commits between this request's lookup and its write.
type lateKeys struct {
	*eventstore.Store
	mu   sync.Mutex
	seen map[string]bool
}

func (k *lateKeys) Idempotency(ctx context.Context, key string) (command.IdempotencyRecord, error) {
	k.mu.Lock()
	first := !k.seen[key]
	k.seen[key] = true
	k.mu.Unlock()
	if first {
		return command.IdempotencyRecord{}, command.ErrUnknownIdempotencyKey
	}
	return command.NewIdempotencyKeys(k.Store).Idempotency(ctx, key)
}

// TestIdempotencyKeyCommittedMeanwhile: the write meets the key committed by another
// request (eventstore.ErrIdempotencyKeyExists), writes nothing and replays or refuses.
func TestIdempotencyKeyCommittedMeanwhile(t *testing.T) {
	d := newDB(t)
	keys := &lateKeys{Store: d.store, seen: map[string]bool{}}
	e := newEcho()
	h := &api.PaymentCommands{Keys: keys,
		OpenAccount:  must(command.NewOpenAccountHandler(d.store, command.Config{}))(t),
		DepositFunds: must(command.NewDepositFundsHandler(d.store, command.Config{}))(t)}
	if err := api.RegisterWriteRoutes(e, api.WriteHandlers{Payments: h}); err != nil {
		t.Fatal(err)
	}
	w := &writeAPI{e: e}
	customer := w.customer(t)
	path := "/v1/customers/" + customer + "/deposits"
	first := wantResult(t, w.post(path, `{"amount_cents":5}`, api.HeaderIdempotencyKey, "k"), http.StatusOK)

	keys.seen = map[string]bool{} // the next lookups of "k" miss once more
	again := w.post(path, `{"amount_cents":5}`, api.HeaderIdempotencyKey, "k")
	if wantResult(t, again, http.StatusOK) != first || again.Header().Get(api.HeaderIdempotentReplay) != "true" {
		t.Errorf("replay = %s %v, want %+v replayed", again.Body, again.Header(), first)
	}
	keys.seen = map[string]bool{}
	wantProblem(t, w.post(path, `{"amount_cents":6}`, api.HeaderIdempotencyKey, "k"), 422, "header.Idempotency-Key")
	if n := d.countEvents(t); n != 2 {
		t.Errorf("%d events, want 2 (opened, one deposit)", n)
	}
}

// failing is a handler that returns err: it pins the mapping of errors to problems.
type failing[C any] struct{ err error }

func (f failing[C]) Handle(context.Context, C, command.Options) (command.Result, error) {
	return command.Result{}, f.err
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"version conflict after retries", fmt.Errorf("after 5 attempts: %w", eventstore.ErrVersionConflict), http.StatusConflict, "version_conflict"},
		{"not found", &command.NotFoundError{Type: "order", ID: "x"}, http.StatusNotFound, ""},
		{"rule", fmt.Errorf("cancel: %w", order.ErrNotCancellable), http.StatusConflict, "order_not_cancellable"},
		{"anything else", fmt.Errorf("connection refused"), http.StatusInternalServerError, ""},
		{"other database error", fmt.Errorf("save: %w", &pgconn.PgError{Code: pgerrcode.UniqueViolation}), http.StatusInternalServerError, ""},
		{"command deadline", fmt.Errorf("load: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, ""},
		{"network error", fmt.Errorf("write: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), http.StatusServiceUnavailable, ""},
		{"connection lost", fmt.Errorf("write: %w", io.ErrUnexpectedEOF), http.StatusServiceUnavailable, ""},
		{"connection closed", fmt.Errorf("write: %w", pgconn.ErrConnClosed), http.StatusServiceUnavailable, ""},
		{"connection exception", fmt.Errorf("write: %w", &pgconn.PgError{Code: pgerrcode.ConnectionFailure}), http.StatusServiceUnavailable, ""},
		{"admin shutdown", fmt.Errorf("write: %w", &pgconn.PgError{Code: pgerrcode.AdminShutdown}), http.StatusServiceUnavailable, ""},
		{"cannot connect now", fmt.Errorf("write: %w", &pgconn.PgError{Code: pgerrcode.CannotConnectNow}), http.StatusServiceUnavailable, ""},
		{"too many connections", fmt.Errorf("write: %w", &pgconn.PgError{Code: pgerrcode.TooManyConnections}), http.StatusServiceUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEcho()
			h := api.OrderCommands{Keys: command.NewIdempotencyKeys(&eventstore.Store{}), CancelOrder: failing[command.CancelOrder]{tt.err}}
			if err := api.RegisterWriteRoutes(e, api.WriteHandlers{Orders: &h}); err != nil {
				t.Fatal(err)
			}
			w := &writeAPI{e: e}
			rec := w.post("/v1/orders/"+uuid.NewString()+"/cancel", "")
			p := wantProblem(t, rec, tt.status)
			if p.Code != tt.code || (tt.status == 500 && p.Detail != "internal error") {
				t.Errorf("problem = %+v", p)
			}
			if retry := rec.Header().Get("Retry-After"); (tt.status == 503) != (retry != "") {
				t.Errorf("Retry-After = %q with status %d", retry, tt.status)
			}
		})
	}
}
