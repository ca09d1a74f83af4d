package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/projections/projectionstest"
)

// readEcho returns an echo instance serving the read routes over models.
func readEcho(models api.ReadModels) *echo.Echo {
	e := api.New(withAuth(api.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()}))
	api.RegisterReadRoutes(e, models)
	return e
}

func readGet(e *echo.Echo, target string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	serve(e, rec, req)
	return rec
}

// readProblemOf decodes a problem answer after checking its status and content type.
func readProblemOf(t testing.TB, rec *httptest.ResponseRecorder, status int) api.Problem {
	t.Helper()
	var p api.Problem
	if rec.Code != status || rec.Header().Get("Content-Type") != api.ProblemContentType {
		t.Fatalf("status %d (%s), want %d problem: %s", rec.Code, rec.Header().Get("Content-Type"), status, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func problemFields(p api.Problem) []string {
	var fields []string
	for _, f := range p.Errors {
		fields = append(fields, f.Field)
	}
	slices.Sort(fields)
	return slices.Compact(fields)
}

// fakeReads serves read models from functions; unset ones answer not found.
type fakeReads struct {
	order    func(id string) (projections.Order, error)
	mu       sync.Mutex
	orderQ   projections.OrderQuery
	productQ projections.ProductQuery
	err      error
}

func (f *fakeReads) Order(_ context.Context, id string) (projections.Order, error) {
	if f.order == nil {
		return projections.Order{}, fmt.Errorf("order %s: %w", id, projections.ErrNotFound)
	}
	return f.order(id)
}

func (f *fakeReads) SearchOrders(_ context.Context, q projections.OrderQuery) (projections.Page[projections.Order], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orderQ = q
	return projections.Page[projections.Order]{Items: []projections.Order{}}, f.err
}

func (f *fakeReads) Product(_ context.Context, id string) (projections.Product, error) {
	return projections.Product{}, fmt.Errorf("product %s: %w", id, projections.ErrNotFound)
}

func (f *fakeReads) SearchProducts(_ context.Context, q projections.ProductQuery) (projections.Page[projections.Product], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.productQ = q
	return projections.Page[projections.Product]{Items: []projections.Product{}}, f.err
}

func (f *fakeReads) Customer(_ context.Context, id string) (projections.Customer, error) {
	return projections.Customer{}, fmt.Errorf("customer %s: %w", id, projections.ErrNotFound)
}

func (f *fakeReads) Watch(string, string) (<-chan struct{}, func()) { return nil, func() {} }

func TestReadParametersAreAllReported(t *testing.T) {
	e := readEcho(&fakeReads{})
	cases := []struct {
		target string
		fields []string
	}{
		{"/v1/orders?size=0&status=open&min_total_cents=-1&sort=price&cursor=xyz&bogus=1&created_from=yesterday&customer_id=42",
			[]string{"query.bogus", "query.created_from", "query.cursor", "query.customer_id", "query.min_total_cents", "query.size", "query.sort", "query.status"}},
		{"/v1/orders?min_total_cents=10&max_total_cents=5&created_from=2025-02-01T00:00:00Z&created_to=2025-01-01T00:00:00Z",
			[]string{"query.created_to", "query.max_total_cents"}},
		{"/v1/orders?size=1&size=2&size=101", []string{"query.size"}},
		{"/v1/orders/not-a-uuid?min_version=0&wait=1h", []string{"path.id", "query.min_version", "query.wait"}},
		{"/v1/products?in_stock=maybe&size=abc&q=" + url.QueryEscape(string(make([]rune, api.MaxQueryText+1))),
			[]string{"query.in_stock", "query.q", "query.size"}},
		{"/v1/customers/" + uuid.NewString() + "?wait=-1s", []string{"query.wait"}},
	}
	for _, c := range cases {
		t.Run(c.target, func(t *testing.T) {
			p := readProblemOf(t, readGet(e, c.target), http.StatusBadRequest)
			if got := problemFields(p); !slices.Equal(got, c.fields) {
				t.Errorf("fields %v, want %v (%+v)", got, c.fields, p)
			}
		})
	}
}

func TestReadParametersReachTheQuery(t *testing.T) {
	f := &fakeReads{}
	e := readEcho(f)
	customer := uuid.NewString()
	rec := readGet(e, "/v1/orders?q=+blue+kettle+&status=pending,confirmed&status=pending&customer_id="+customer+
		"&min_total_cents=1&max_total_cents=9&created_from=2025-01-01T00:00:00Z&sort=-total_cents&size=5")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	q := f.orderQ
	if q.Text != "blue kettle" || !slices.Equal(q.Statuses, []string{"pending", "confirmed"}) || q.CustomerID != customer ||
		*q.MinTotalCents != 1 || *q.MaxTotalCents != 9 || q.CreatedFrom.Year() != 2025 || q.CreatedTo != nil ||
		q.Sort != "-total_cents" || q.Size != 5 || q.After != nil {
		t.Errorf("query %+v", q)
	}
	if rec := readGet(e, "/v1/products?in_stock=true"); rec.Code != http.StatusOK || !*f.productQ.InStock || f.productQ.Size != projections.DefaultPageSize {
		t.Errorf("products: %d %+v", rec.Code, f.productQ)
	}
	f.err = fmt.Errorf("search: %w", projections.ErrBadCursor)
	readProblemOf(t, readGet(e, "/v1/products"), http.StatusBadRequest)
	f.err = fmt.Errorf("search: %w", projections.ErrUnavailable)
	if rec := readGet(e, "/v1/orders"); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("unavailable: %d %v", rec.Code, rec.Header())
	}
}

func TestReadByIDWaitsForMinVersion(t *testing.T) {
	id := uuid.NewString()
	start := time.Now()
	e := readEcho(&fakeReads{order: func(string) (projections.Order, error) {
		v := int64(1)
		if time.Since(start) > 150*time.Millisecond {
			v = 2
		}
		return projections.Order{ID: id, Version: v, Revision: v * 1024}, nil
	}})
	path := "/v1/orders/" + id

	rec := readGet(e, path+"?min_version=2&wait=3s")
	var o projections.Order
	if err := json.Unmarshal(rec.Body.Bytes(), &o); rec.Code != http.StatusOK || err != nil || o.Version != 2 {
		t.Fatalf("waited read: %d %s", rec.Code, rec.Body)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Errorf("answered version 2 before it existed")
	}
	etag := rec.Header().Get("ETag")
	if etag != `"2048"` {
		t.Errorf("ETag %q", etag)
	}
	if rec := readGet(e, path, "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", rec.Code)
	}

	rec = readGet(e, path+"?min_version=5&wait=100ms")
	p := readProblemOf(t, rec, http.StatusConflict)
	if p.Code != api.ReadModelBehindCode || rec.Header().Get("Retry-After") == "" || problemFields(p)[0] != "query.min_version" {
		t.Errorf("behind: %+v %v", p, rec.Header())
	}
	readProblemOf(t, readGet(e, "/v1/products/"+id+"?wait=50ms"), http.StatusNotFound)
	readProblemOf(t, readGet(e, "/v1/customers/"+id), http.StatusNotFound)
}

// liveReadAPI runs the workers over a shop and serves the read API over the real read
// models, sharing Changes as shopflow serve does; it returns once the workers have caught up.
func liveReadAPI(t *testing.T, shop *projectionstest.Shop) (*projectionstest.Env, *httptest.Server) {
	t.Helper()
	env := projectionstest.New(t, 3)
	env.Config.Changes = projections.NewChanges()
	env.Produce(t, shop.Events...)
	env.StartWorkers(t)
	reader, err := projections.NewReader(env.ES, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	srv := authenticatedServer(t, readEcho(reader))
	env.WaitCaughtUp(t)
	env.Refresh(t) // searches see what the last refresh made visible
	return env, srv
}

func getJSON(t testing.TB, srv *httptest.Server, target string, into any) int {
	t.Helper()
	res, err := srv.Client().Get(srv.URL + target)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %d: %v", target, res.StatusCode, err)
	}
	return res.StatusCode
}

func TestReadAPIOverRealReadModels(t *testing.T) {
	shop := projectionstest.NewShop(11)
	shop.Random(6, 4, 30)
	kettle := shop.Product("KT-777", "Copper Kettle", 4500, 10)
	ada := shop.Customer("Ada Byron", "ada@analytical.example", 100_000)
	mine := shop.Place(ada, order.Line{ProductID: kettle, Quantity: 2})
	shop.Confirm(mine)
	_, srv := liveReadAPI(t, shop)

	var o projections.Order
	if code := getJSON(t, srv, "/v1/orders/"+mine, &o); code != http.StatusOK || o.Status != "confirmed" ||
		o.Customer == nil || o.Customer.Email != "ada@analytical.example" || o.Lines[0].Name != "Copper Kettle" || *o.TotalCents != 9000 {
		t.Errorf("GET order: %d %+v", code, o)
	}
	for _, q := range []string{"copper", "KT-777", "kt-777", "byron", "ada@analytical.example", "Copper Kettle Byron"} {
		var page projections.Page[projections.Order]
		getJSON(t, srv, "/v1/orders?q="+url.QueryEscape(q), &page)
		if len(page.Items) != 1 || page.Items[0].ID != mine {
			t.Errorf("q=%s: %d items, want only %s", q, len(page.Items), mine)
		}
	}
	var statuses projections.Page[projections.Order]
	getJSON(t, srv, "/v1/orders?status=confirmed&customer_id="+ada, &statuses)
	if statuses.Total.Value != 1 || statuses.Facets["status"]["confirmed"] != 1 {
		t.Errorf("filtered: %+v", statuses)
	}
	if ids := pageThrough(t, srv, "/v1/orders?sort=-total_cents&size=7"); len(ids) != len(shop.Orders) {
		t.Errorf("paged through %d orders, want %d", len(ids), len(shop.Orders))
	}
	var products projections.Page[projections.Product]
	getJSON(t, srv, "/v1/products?q=kettle&in_stock=true", &products)
	if len(products.Items) != 1 || products.Items[0].ID != kettle || products.Items[0].Available != 8 {
		t.Errorf("products: %+v", products)
	}
	var c projections.Customer
	if code := getJSON(t, srv, "/v1/customers/"+ada, &c); code != http.StatusOK || c.BalanceCents != 91_000 {
		t.Errorf("GET customer: %d %+v", code, c)
	}
}

// pageThrough follows next_cursor from target and returns the ids seen, failing on repeats.
func pageThrough(t testing.TB, srv *httptest.Server, target string) []string {
	t.Helper()
	var ids []string
	for next := target; next != ""; {
		var page projections.Page[projections.Order]
		if code := getJSON(t, srv, next, &page); code != http.StatusOK {
			t.Fatalf("GET %s: %d", next, code)
		}
		for _, o := range page.Items {
			if slices.Contains(ids, o.ID) {
				t.Fatalf("order %s on two pages", o.ID)
			}
			ids = append(ids, o.ID)
		}
		next = ""
		if page.NextCursor != "" {
			next = target + "&cursor=" + page.NextCursor
		}
	}
	return ids
}

func TestReadYourWrites(t *testing.T) {
	shop := projectionstest.NewShop(12)
	shop.Random(3, 2, 0)
	id := shop.Place(shop.Customers[0], order.Line{ProductID: shop.Products[0], Quantity: 1})
	env, srv := liveReadAPI(t, shop)

	from := len(shop.Events)
	shop.Confirm(id)
	recs := records(t, env, shop.Events[from:])
	produced := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond) // the command commits while the client already waits
		produced <- env.Producer.ProduceSync(context.Background(), recs...).FirstErr()
	}()
	defer func() {
		if err := <-produced; err != nil {
			t.Error(err)
		}
	}()
	var o projections.Order
	code := getJSON(t, srv, fmt.Sprintf("/v1/orders/%s?min_version=%d&wait=5s", id, shop.Version("order", id)), &o)
	if code != http.StatusOK || o.Status != "confirmed" || o.Version != 2 {
		t.Errorf("read after write: %d %+v", code, o)
	}
	var p api.Problem
	if code := getJSON(t, srv, fmt.Sprintf("/v1/orders/%s?min_version=3&wait=200ms", id), &p); code != http.StatusConflict || p.Code != api.ReadModelBehindCode {
		t.Errorf("future version: %d %+v", code, p)
	}
}

func records(t testing.TB, env *projectionstest.Env, events []eventstore.Envelope) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for _, e := range events {
		r, err := e.Record(env.Topic(e.StreamType))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestReadsNeverFailDuringRebuild(t *testing.T) {
	shop := projectionstest.NewShop(13)
	shop.Random(10, 5, 40)
	env, srv := liveReadAPI(t, shop)

	ctx, stop := context.WithCancel(context.Background())
	var reads, failures atomic.Int64
	var firstFailure atomic.Value
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i++ {
				if err := readOnce(srv, shop, i); err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
				reads.Add(1)
			}
		})
	}
	for _, name := range projections.Names() {
		if _, err := projections.Rebuild(context.Background(), env.ES, env.Config, name, nil); err != nil {
			t.Fatalf("rebuild %s: %v", name, err)
		}
	}
	stop()
	wg.Wait()
	if failures.Load() > 0 {
		t.Errorf("%d of %d reads failed during the rebuilds; first: %v", failures.Load(), reads.Load(), firstFailure.Load())
	}
	t.Logf("%d reads during the rebuilds", reads.Load())
}

// readOnce reads an order, a product, a customer or a search; every one must succeed.
func readOnce(srv *httptest.Server, shop *projectionstest.Shop, i int) error {
	var target string
	switch i % 4 {
	case 0:
		target = "/v1/orders/" + shop.Orders[i%len(shop.Orders)]
	case 1:
		target = "/v1/products/" + shop.Products[i%len(shop.Products)]
	case 2:
		target = "/v1/customers/" + shop.Customers[i%len(shop.Customers)]
	default:
		target = "/v1/orders?size=100"
	}
	res, err := srv.Client().Get(srv.URL + target)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", target, res.StatusCode, body)
	}
	if i%4 == 3 {
		if err := json.Unmarshal(body, &page); err != nil || len(page.Items) != len(shop.Orders) {
			return fmt.Errorf("search found %d of %d orders (%v)", len(page.Items), len(shop.Orders), err)
		}
	}
	return nil
}
