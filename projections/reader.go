package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/elastic/go-elasticsearch/v8"
)

// Reader answers the read API's queries from the read models' aliases, so it serves
// normally while a rebuild swaps them. Reads by id use the real-time GET API: they see every
// acknowledged write without waiting for a refresh; concurrent ones share _mget requests
// (see getCoalescer). Safe for concurrent use.
type Reader struct {
	es   esClient
	cfg  Config
	gets *getCoalescer
}

// NewReader returns a reader of the aliases named by cfg.IndexPrefix (the only setting it
// uses). It fails on an invalid prefix.
func NewReader(es *elasticsearch.Client, cfg Config) (*Reader, error) {
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	return &Reader{es: esClient{es}, cfg: cfg, gets: &getCoalescer{es: esClient{es}}}, nil
}

// Order returns the order with the given id; the error wraps ErrNotFound if the read model
// does not hold it, ErrUnavailable if Elasticsearch cannot answer.
func (r *Reader) Order(ctx context.Context, id string) (Order, error) {
	var d orderDoc
	rev, err := r.get(ctx, Orders, id, &d)
	if err == nil && d.Kind != kindOrder {
		err = fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	d.Revision = rev
	return d.Order, err
}

// Watch returns a channel closed the next time a worker of this process stores document id
// of the read model (Orders, Products or Customers), and the function to call once no
// longer waiting; the channel is nil without Config.Changes. See Changes.
func (r *Reader) Watch(model, id string) (changed <-chan struct{}, stop func()) {
	return r.cfg.Changes.Watch(model, id)
}

// Product returns the product with the given id; errors as Order.
func (r *Reader) Product(ctx context.Context, id string) (Product, error) {
	var p Product
	rev, err := r.get(ctx, Products, id, &p)
	p.Revision = rev
	return p, err
}

// Customer returns the customer with the given id; errors as Order.
func (r *Reader) Customer(ctx context.Context, id string) (Customer, error) {
	var c Customer
	rev, err := r.get(ctx, Customers, id, &c)
	c.Revision = rev
	return c, err
}

// SearchOrders runs an order search. The error wraps ErrBadCursor for a cursor of another
// query, ErrUnavailable if Elasticsearch cannot answer.
func (r *Reader) SearchOrders(ctx context.Context, q OrderQuery) (Page[Order], error) {
	spec, err := sortFor(orderSorts, q.sortName(), q.After, q.fingerprint())
	if err != nil {
		return Page[Order]{}, err
	}
	size := pageSize(q.Size)
	answer, err := search[orderDoc](ctx, r, Orders, q.body(spec, size))
	if err != nil {
		return Page[Order]{}, err
	}
	page := Page[Order]{Items: []Order{}, Total: answer.Hits.Total, Facets: map[string]map[string]int64{"status": answer.statusFacet()}}
	for _, h := range answer.Hits.Hits[:min(size, len(answer.Hits.Hits))] {
		page.Items = append(page.Items, h.Source.Order)
	}
	page.NextCursor = answer.next(size, q.fingerprint())
	return page, nil
}

// SearchProducts runs a product search; errors as SearchOrders.
func (r *Reader) SearchProducts(ctx context.Context, q ProductQuery) (Page[Product], error) {
	spec, err := sortFor(productSorts, q.sortName(), q.After, q.fingerprint())
	if err != nil {
		return Page[Product]{}, err
	}
	size := pageSize(q.Size)
	answer, err := search[Product](ctx, r, Products, q.body(spec, size))
	if err != nil {
		return Page[Product]{}, err
	}
	page := Page[Product]{Items: []Product{}, Total: answer.Hits.Total}
	for _, h := range answer.Hits.Hits[:min(size, len(answer.Hits.Hits))] {
		page.Items = append(page.Items, h.Source)
	}
	page.NextCursor = answer.next(size, q.fingerprint())
	return page, nil
}

// sortFor returns the sort spec of name after checking that the cursor (if any) belongs to
// this query and sort.
func sortFor(sorts map[string]sortSpec, name string, after *Cursor, fp string) (sortSpec, error) {
	spec, ok := sorts[name]
	if !ok {
		return spec, fmt.Errorf("projections: unknown sort %q (want one of %v)", name, sortNames(sorts))
	}
	if after == nil {
		return spec, nil
	}
	if after.Query != fp {
		return spec, fmt.Errorf("%w: it belongs to another query or sort order", ErrBadCursor)
	}
	return spec, spec.check(*after)
}

// get reads a document by id in real time and returns its Elasticsearch version.
func (r *Reader) get(ctx context.Context, model, id string, into any) (int64, error) {
	doc, found, err := r.gets.get(ctx, r.cfg.Alias(model), id)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("%s %s: %w", model, id, ErrNotFound)
	}
	return doc.version, decode(doc.source, into)
}

// do sends a request to an alias, retrying once when the index behind it was deleted
// between resolving the alias and reading it (a rebuild's swap): the retry resolves again.
func (r *Reader) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	data, err := r.es.do(ctx, method, path, body)
	if isType(err, "index_not_found_exception") {
		data, err = r.es.do(ctx, method, path, body)
	}
	return data, err
}

// searchAnswer is the part of a _search answer the projections read.
type searchAnswer[T any] struct {
	Hits struct {
		Total Total `json:"total"`
		Hits  []struct {
			Source T                 `json:"_source"`
			Sort   []json.RawMessage `json:"sort"`
		} `json:"hits"`
	} `json:"hits"`
	Aggregations struct {
		Status struct {
			Buckets []struct {
				Key   string `json:"key"`
				Count int64  `json:"doc_count"`
			} `json:"buckets"`
		} `json:"status"`
	} `json:"aggregations"`
}

// searchFilter is the filter_path of searches: the parts of the answer searchAnswer reads
// (and the error, for parseError). Elasticsearch then does not serialise, nor the reader
// decode, the rest of every hit (_index, _id, _score, …).
const searchFilter = "error,status,hits.total,hits.hits._source,hits.hits.sort,aggregations.status.buckets.key,aggregations.status.buckets.doc_count"

func search[T any](ctx context.Context, r *Reader, model string, body map[string]any) (searchAnswer[T], error) {
	var answer searchAnswer[T]
	data, err := r.do(ctx, http.MethodPost, "/"+url.PathEscape(r.cfg.Alias(model))+"/_search?filter_path="+searchFilter, body)
	if isType(err, "index_not_found_exception") { // no worker has created the read model yet
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err != nil {
		return answer, fmt.Errorf("projections: search %s: %w", model, err)
	}
	return answer, decode(data, &answer)
}

// next returns the cursor after the page's last hit, "" when no hit follows it.
func (a searchAnswer[T]) next(size int, fp string) string {
	if len(a.Hits.Hits) <= size {
		return ""
	}
	return Cursor{Query: fp, Values: a.Hits.Hits[size-1].Sort}.String()
}

// statusFacet returns the hit count of every order status (0 for absent ones).
func (a searchAnswer[T]) statusFacet() map[string]int64 {
	counts := make(map[string]int64, len(OrderStatuses))
	for _, s := range OrderStatuses {
		counts[s] = 0
	}
	for _, b := range a.Aggregations.Status.Buckets {
		counts[b.Key] = b.Count
	}
	return counts
}
