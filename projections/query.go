package projections

import (
	"slices"
	"time"

	"github.com/shopflow/shopflow/domain/order"
)

// Page sizes of searches.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// OrderStatuses are the values of Order.Status, the keys of the status facet.
var OrderStatuses = []string{
	string(order.StatusPending), string(order.StatusConfirmed), string(order.StatusRejected), string(order.StatusCancelled),
}

// Sort orders. "relevance" ranks by full-text score (the default when there is text);
// a leading "-" means descending. Ties are broken by id, so paging is stable.
var (
	orderSorts = map[string]sortSpec{
		"relevance":    {field: "_score", desc: true, kind: kindFloat},
		"placed_at":    {field: "placed_at", kind: kindInteger},
		"-placed_at":   {field: "placed_at", desc: true, kind: kindInteger},
		"updated_at":   {field: "updated_at", kind: kindInteger},
		"-updated_at":  {field: "updated_at", desc: true, kind: kindInteger},
		"total_cents":  {field: "total_cents", kind: kindInteger},
		"-total_cents": {field: "total_cents", desc: true, kind: kindInteger},
	}
	productSorts = map[string]sortSpec{
		"relevance":    {field: "_score", desc: true, kind: kindFloat},
		"name":         {field: "name.keyword", kind: kindKeyword},
		"-name":        {field: "name.keyword", desc: true, kind: kindKeyword},
		"price_cents":  {field: "price_cents", kind: kindInteger},
		"-price_cents": {field: "price_cents", desc: true, kind: kindInteger},
	}
)

// OrderSorts returns the accepted OrderQuery.Sort values, sorted.
func OrderSorts() []string { return sortNames(orderSorts) }

// ProductSorts returns the accepted ProductQuery.Sort values, sorted.
func ProductSorts() []string { return sortNames(productSorts) }

func sortNames(sorts map[string]sortSpec) []string {
	names := make([]string, 0, len(sorts))
	for name := range sorts {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// The fields full-text searches match, with their boosts. User text only ever reaches
// Elasticsearch as the query string of a multi_match over these fields: it is analyzed as
// words, never parsed as query syntax.
var (
	orderTextFields = []string{"lines.sku^4", "lines.name^3", "customer.email^2", "customer.name^2",
		"lines.sku.text", "customer.email.text"}
	productTextFields = []string{"sku^4", "name^3", "sku.text", "description"}
)

// OrderQuery is a search of the orders read model. The zero value lists every order,
// newest first, DefaultPageSize at a time. The read API validates each field.
type OrderQuery struct {
	// Text is matched against product names and SKUs, customer name and e-mail: every word
	// must be found in one of these fields (cross_fields, operator and); SKUs and e-mails
	// also match exactly, case-insensitively.
	Text string
	// Statuses keeps orders in any of these statuses. It does not narrow the status facet,
	// which counts every status under the other criteria.
	Statuses   []string
	CustomerID string
	// MinTotalCents and MaxTotalCents bound the total (inclusive); orders without a total
	// (not confirmed) never match a bound.
	MinTotalCents, MaxTotalCents *int64
	// CreatedFrom and CreatedTo bound placed_at (inclusive).
	CreatedFrom, CreatedTo *time.Time
	// Sort is one of OrderSorts(); default "relevance" with Text, else "-placed_at".
	Sort string
	// Size is the page size, 1..MaxPageSize; default DefaultPageSize.
	Size int
	// After continues from a previous page's NextCursor.
	After *Cursor
}

// ProductQuery is a search of the products read model. The zero value lists every product
// by name.
type ProductQuery struct {
	// Text is matched against SKU, name and description.
	Text string
	// InStock keeps products that have (true) or have not (false) units available.
	InStock *bool
	// Sort is one of ProductSorts(); default "relevance" with Text, else "name".
	Sort  string
	Size  int
	After *Cursor
}

// Total is a search's hit count; Relation is "eq", or "gte" when counting stopped at 10,000.
type Total struct {
	Value    int64  `json:"value"`
	Relation string `json:"relation"`
}

// Page is one page of search results.
type Page[T any] struct {
	Items []T   `json:"items"`
	Total Total `json:"total"`
	// Facets counts hits per value of a field, e.g. {"status": {"pending": 3}}.
	Facets map[string]map[string]int64 `json:"facets,omitempty"`
	// NextCursor continues the search; absent on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

func (q OrderQuery) sortName() string { return sortOrDefault(q.Sort, q.Text, "-placed_at") }

func (q ProductQuery) sortName() string { return sortOrDefault(q.Sort, q.Text, "name") }

func sortOrDefault(sort, text, def string) string {
	switch {
	case sort != "":
		return sort
	case text != "":
		return "relevance"
	}
	return def
}

func pageSize(size int) int {
	if size < 1 {
		return DefaultPageSize
	}
	return min(size, MaxPageSize)
}

// fingerprint identifies the query without its page position.
func (q OrderQuery) fingerprint() string {
	statuses := slices.Sorted(slices.Values(q.Statuses))
	return fingerprint("orders", q.Text, statuses, q.CustomerID, q.MinTotalCents, q.MaxTotalCents,
		epochMillis(q.CreatedFrom, true), epochMillis(q.CreatedTo, false), q.sortName())
}

func (q ProductQuery) fingerprint() string {
	return fingerprint("products", q.Text, q.InStock, q.sortName())
}

// body returns the search request; size+1 hits are asked for to know if a page follows.
func (q OrderQuery) body(spec sortSpec, size int) map[string]any {
	filters := []any{term("kind", kindOrder)}
	if q.CustomerID != "" {
		filters = append(filters, term("customer_id", q.CustomerID))
	}
	if r := bounds(q.MinTotalCents, q.MaxTotalCents); r != nil {
		filters = append(filters, map[string]any{"range": map[string]any{"total_cents": r}})
	}
	if r := bounds(epochMillis(q.CreatedFrom, true), epochMillis(q.CreatedTo, false)); r != nil {
		filters = append(filters, map[string]any{"range": map[string]any{"placed_at": r}})
	}
	body := searchBody(textQuery(q.Text, orderTextFields, filters), spec, size, q.After)
	body["aggs"] = map[string]any{"status": map[string]any{"terms": map[string]any{"field": "status", "size": 20}}}
	if len(q.Statuses) > 0 {
		// A post filter narrows the hits but not the facet.
		body["post_filter"] = map[string]any{"terms": map[string]any{"status": q.Statuses}}
	}
	return body
}

func (q ProductQuery) body(spec sortSpec, size int) map[string]any {
	var filters []any
	if q.InStock != nil {
		filters = append(filters, term("in_stock", *q.InStock))
	}
	return searchBody(textQuery(q.Text, productTextFields, filters), spec, size, q.After)
}

func searchBody(query map[string]any, spec sortSpec, size int, after *Cursor) map[string]any {
	body := map[string]any{"query": query, "size": size + 1, "sort": spec.clause()}
	if after != nil {
		body["search_after"] = after.Values
	}
	return body
}

// textQuery matches text (if any) as words over the fields, within the filters: each word in
// some field, the fields of one analyzer blended as one (cross_fields).
func textQuery(text string, fields []string, filters []any) map[string]any {
	b := map[string]any{"filter": filters}
	if text != "" {
		b["must"] = map[string]any{"multi_match": map[string]any{
			"query": text, "fields": fields, "type": "cross_fields", "operator": "and",
		}}
	}
	return map[string]any{"bool": b}
}

func term(field string, value any) map[string]any {
	return map[string]any{"term": map[string]any{field: value}}
}

// epochMillis returns t as milliseconds since the epoch (nil for nil), rounded up for a lower
// bound and down for an upper one, so that the inclusive range keeps its meaning at
// millisecond precision. Elasticsearch reads numbers as epoch_millis on date fields; a date
// string would need its UTC offset within ±18:00 and its year within 0000–9999 after the
// offset is applied, which RFC 3339 and Go's parser do not promise.
func epochMillis(t *time.Time, up bool) *int64 {
	if t == nil {
		return nil
	}
	ms := t.UnixMilli()
	if up && t.Sub(time.UnixMilli(ms)) > 0 {
		ms++
	}
	return &ms
}

// bounds returns an inclusive range clause, nil when unbounded.
func bounds[T any](from, to *T) map[string]any {
	r := map[string]any{}
	if from != nil {
		r["gte"] = *from
	}
	if to != nil {
		r["lte"] = *to
	}
	if len(r) == 0 {
		return nil
	}
	return r
}
