package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/shopflow/shopflow/projections"
)

// ReadModels is what the read API needs from the read models; *projections.Reader
// implements it. Methods return errors wrapping projections.ErrNotFound,
// projections.ErrUnavailable or projections.ErrBadCursor.
type ReadModels interface {
	Order(ctx context.Context, id string) (projections.Order, error)
	SearchOrders(ctx context.Context, q projections.OrderQuery) (projections.Page[projections.Order], error)
	Product(ctx context.Context, id string) (projections.Product, error)
	SearchProducts(ctx context.Context, q projections.ProductQuery) (projections.Page[projections.Product], error)
	Customer(ctx context.Context, id string) (projections.Customer, error)
	// Watch returns a channel closed when this process next stores document id of a read
	// model (projections.Orders, Products, Customers), nil if it cannot tell, and the
	// function to call once no longer waiting.
	Watch(model, id string) (changed <-chan struct{}, stop func())
}

// Bounds of the read API's parameters.
const (
	// MaxReadWait bounds the wait parameter of reads by id.
	MaxReadWait = 10 * time.Second
	// DefaultReadWait is the wait of a read by id with min_version and no wait parameter.
	DefaultReadWait = 2 * time.Second
	// MaxQueryText bounds the length of the q parameter, in characters.
	MaxQueryText = 200
)

// ReadModelBehindCode is the Problem code of a read by id whose document exists but did not
// reach min_version within the wait (409 with Retry-After).
const ReadModelBehindCode = "read_model_behind"

// RegisterReadRoutes adds the query routes, served from the read models:
//
//	GET /v1/orders/{id}     ?min_version=N&wait=2s
//	GET /v1/orders          ?q=&status=&customer_id=&min_total_cents=&max_total_cents=
//	                         &created_from=&created_to=&sort=&size=&cursor=
//	GET /v1/products/{id}   ?min_version=N&wait=2s
//	GET /v1/products        ?q=&in_stock=&sort=&size=&cursor=
//	GET /v1/customers/{id}  ?min_version=N&wait=2s
//
// Reads by id answer the document with its stream version in the body and its revision as
// ETag (If-None-Match → 304). With min_version they wait, up to wait (default 2 s, at most
// 10 s), for the read model to reach that version (read-your-writes after a command): if it
// does not, a document that exists answers 409 with code read_model_behind naming the
// version it holds, and Retry-After; a missing one answers 404. Bad parameters answer 400
// listing every one ("query.size", "path.id"); unknown parameters are bad too. Searches
// page with an opaque cursor (next_cursor). Elasticsearch unavailable answers 503.
func RegisterReadRoutes(e *echo.Echo, r ReadModels) {
	h := readHandlers{r}
	e.GET("/v1/orders/:id", byID(r, projections.Orders, "order", h.r.Order,
		func(o projections.Order) (int64, int64) { return o.Version, o.Revision },
		func(o projections.Order) string { return o.CustomerID }))
	e.GET("/v1/orders", h.searchOrders)
	e.GET("/v1/products/:id", byID(r, projections.Products, "product", h.r.Product,
		func(p projections.Product) (int64, int64) { return p.Version, p.Revision }, nil))
	e.GET("/v1/products", h.searchProducts)
	e.GET("/v1/customers/:id", byID(r, projections.Customers, "customer", h.r.Customer,
		func(c projections.Customer) (int64, int64) { return c.Version, c.Revision },
		func(c projections.Customer) string { return c.ID }))
}

type readHandlers struct{ r ReadModels }

// byID returns the handler of a read by id of a kind of document of a read model; versions
// returns a document's stream version and revision, owner (nil for documents every caller
// may read) the customer a document belongs to: a request limited to a customer (see
// CustomerOf) finds only that customer's documents, the others are not found.
func byID[T any](r ReadModels, model, kind string, get func(context.Context, string) (T, error), versions func(T) (int64, int64), owner func(T) string) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := newQueryParams(c, "min_version", "wait")
		id := p.pathID()
		minVersion := p.int("min_version", 1, math.MaxInt64)
		wait := p.duration("wait", MaxReadWait)
		if err := p.err(); err != nil {
			return err
		}
		customer, limited := CustomerOf(c.Request().Context())
		if owner != nil && limited {
			get = ownedBy(get, owner, customer)
		}
		need, timeout := int64(0), time.Duration(0)
		if minVersion != nil {
			need, timeout = *minVersion, DefaultReadWait
		}
		if wait != nil {
			timeout = *wait
		}
		watch := func() (<-chan struct{}, func()) { return r.Watch(model, id) }
		doc, err := awaitVersion(c.Request().Context(), timeout, need, watch, func(ctx context.Context) (T, int64, error) {
			d, err := get(ctx, id)
			v, _ := versions(d)
			return d, v, err
		})
		if err != nil {
			return readProblem(c, err, kind+" "+id, need, timeout)
		}
		_, rev := versions(doc)
		return sendVersioned(c, doc, rev)
	}
}

// ownedBy wraps get so that a document of another customer than customer is not found.
func ownedBy[T any](get func(context.Context, string) (T, error), owner func(T) string, customer string) func(context.Context, string) (T, error) {
	return func(ctx context.Context, id string) (T, error) {
		doc, err := get(ctx, id)
		if err == nil && owner(doc) != customer {
			var zero T
			return zero, projections.ErrNotFound
		}
		return doc, err
	}
}

// errBehind reports a document that did not reach the minimum version in time.
type errBehind struct{ version int64 }

func (e errBehind) Error() string { return fmt.Sprintf("the read model holds version %d", e.version) }

// awaitVersion reads a document until its version reaches minVersion (0: any) or timeout
// passes. It returns the document, or the last error (errBehind if the document exists at a
// lower version). Between reads it waits for watch's channel (a worker of this process
// stored the document) or a backoff from 1 ms doubling to pollCap, whichever comes first.
func awaitVersion[T any](ctx context.Context, timeout time.Duration, minVersion int64, watch func() (<-chan struct{}, func()), get func(context.Context) (T, int64, error)) (doc T, err error) {
	ctx, end := startWait(ctx, minVersion, timeout)
	reads := 0
	defer func() { end(reads, err == nil) }()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		reads++
		var changed <-chan struct{}
		stop := func() {}
		if timeout > 0 {
			changed, stop = watch() // before the read: a store between it and the wait wakes the wait
		}
		doc, version, err := get(ctx)
		switch {
		case err == nil && version >= minVersion:
			stop()
			return doc, nil
		case err == nil:
			err = errBehind{version}
		case !errors.Is(err, projections.ErrNotFound):
			stop()
			return doc, err
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			stop()
			return doc, err
		}
		t := time.NewTimer(min(pause, remaining))
		select {
		case <-ctx.Done():
			t.Stop()
			stop()
			return doc, ctx.Err()
		case <-t.C:
		case <-changed:
			t.Stop()
		}
		stop()
		// Reads by id share _mget requests (projections.Reader), so polling often costs
		// Elasticsearch little however many clients wait (about three reads per order in
		// the command→visible benchmark); it finds what other processes' workers store.
		pause = min(2*pause, pollCap)
	}
}

// pollCap caps awaitVersion's backoff.
const pollCap = 8 * time.Millisecond

// sendVersioned answers a document with its ETag, or 304 if the client has it.
func sendVersioned(c echo.Context, doc any, revision int64) error {
	etag := `"` + strconv.FormatInt(revision, 10) + `"`
	c.Response().Header().Set("ETag", etag)
	if match := c.Request().Header.Get("If-None-Match"); match != "" && slices.Contains(splitList(match), etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.JSON(http.StatusOK, doc)
}

func (h readHandlers) searchOrders(c echo.Context) error {
	p := newQueryParams(c, "q", "status", "customer_id", "min_total_cents", "max_total_cents",
		"created_from", "created_to", "sort", "size", "cursor")
	q := projections.OrderQuery{
		Text: p.text("q"), Statuses: p.list("status", projections.OrderStatuses), CustomerID: p.uuid("customer_id"),
		MinTotalCents: p.int("min_total_cents", 0, math.MaxInt64), MaxTotalCents: p.int("max_total_cents", 0, math.MaxInt64),
		CreatedFrom: p.time("created_from"), CreatedTo: p.time("created_to"),
		Sort: p.enum("sort", projections.OrderSorts()), Size: p.size(), After: p.cursor(),
	}
	if q.MinTotalCents != nil && q.MaxTotalCents != nil && *q.MinTotalCents > *q.MaxTotalCents {
		p.bad("max_total_cents", "must not be less than min_total_cents")
	}
	if q.CreatedFrom != nil && q.CreatedTo != nil && q.CreatedFrom.After(*q.CreatedTo) {
		p.bad("created_to", "must not be before created_from")
	}
	if err := p.err(); err != nil {
		return err
	}
	if own, limited := CustomerOf(c.Request().Context()); limited { // the server filters, whatever the client asks
		if q.CustomerID != "" && q.CustomerID != own {
			return notYours("query.customer_id")
		}
		q.CustomerID = own
	}
	page, err := h.r.SearchOrders(c.Request().Context(), q)
	if err != nil {
		return readProblem(c, err, "", 0, 0)
	}
	return c.JSON(http.StatusOK, page)
}

func (h readHandlers) searchProducts(c echo.Context) error {
	p := newQueryParams(c, "q", "in_stock", "sort", "size", "cursor")
	q := projections.ProductQuery{Text: p.text("q"), InStock: p.bool("in_stock"),
		Sort: p.enum("sort", projections.ProductSorts()), Size: p.size(), After: p.cursor()}
	if err := p.err(); err != nil {
		return err
	}
	page, err := h.r.SearchProducts(c.Request().Context(), q)
	if err != nil {
		return readProblem(c, err, "", 0, 0)
	}
	return c.JSON(http.StatusOK, page)
}

// readProblem maps the read models' errors to problems; others go to the error handler.
// what names the document read by id ("order <id>").
func readProblem(c echo.Context, err error, what string, minVersion int64, waited time.Duration) error {
	var behind errBehind
	switch {
	case errors.As(err, &behind):
		c.Response().Header().Set("Retry-After", "1")
		p := NewProblem(http.StatusConflict, fmt.Sprintf("%s is at version %d in the read model; min_version %d was not reached within %s",
			what, behind.version, minVersion, waited), FieldError{Field: "query.min_version", Reason: "not reached: " + behind.Error()})
		p.Code = ReadModelBehindCode
		return p
	case errors.Is(err, projections.ErrNotFound):
		detail := what + " is not in the read model"
		if waited > 0 {
			detail += fmt.Sprintf(" (waited %s)", waited)
		}
		return NewProblem(http.StatusNotFound, detail)
	case errors.Is(err, projections.ErrBadCursor):
		return NewProblem(http.StatusBadRequest, "the request is malformed", FieldError{Field: "query.cursor", Reason: err.Error()})
	case errors.Is(err, projections.ErrUnavailable):
		c.Response().Header().Set("Retry-After", "1")
		return errors.Join(NewProblem(http.StatusServiceUnavailable, "the read models are unavailable; retry later"), err)
	}
	return err
}

// queryParams reads a request's path id and query parameters, collecting every bad one so
// that the client learns them all at once.
type queryParams struct {
	c       echo.Context
	invalid []FieldError
}

// newQueryParams starts reading; any parameter not in known is bad, and so is a query
// string Go's parser would read only in part (a ";" or a bad %-escape makes it drop a
// parameter silently).
func newQueryParams(c echo.Context, known ...string) *queryParams {
	p := &queryParams{c: c}
	if _, err := url.ParseQuery(c.Request().URL.RawQuery); err != nil {
		p.invalid = append(p.invalid, FieldError{Field: "query", Reason: "is not a valid query string: " + err.Error()})
	}
	for _, name := range sortedKeys(c.QueryParams()) {
		if !slices.Contains(known, name) {
			p.bad(name, "is not a known parameter (known: "+strings.Join(known, ", ")+")")
		}
	}
	return p
}

func (p *queryParams) bad(name, reason string) {
	p.invalid = append(p.invalid, FieldError{Field: "query." + name, Reason: reason})
}

// err returns the 400 problem listing every bad parameter, or nil.
func (p *queryParams) err() error {
	if len(p.invalid) == 0 {
		return nil
	}
	return NewProblem(http.StatusBadRequest, "the request has invalid parameters", p.invalid...)
}

// one returns the single value of a parameter ("" if absent); repeating it is bad.
func (p *queryParams) one(name string) string {
	values := p.c.QueryParams()[name]
	if len(values) > 1 {
		p.bad(name, "must be given once")
	}
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

// typed returns the single value of a parameter that has a type beyond text ("" if
// absent); given but empty ("size=") is bad, not taken as absent.
func (p *queryParams) typed(name string) string {
	s := p.one(name)
	if s == "" && len(p.c.QueryParams()[name]) == 1 {
		p.bad(name, "must not be empty; leave the parameter out instead")
	}
	return s
}

// pathID reads the :id path parameter, which must be a UUID, and returns it canonical.
func (p *queryParams) pathID() string {
	id, err := uuid.Parse(p.c.Param("id"))
	if err != nil || len(p.c.Param("id")) != 36 {
		p.invalid = append(p.invalid, FieldError{Field: "path.id", Reason: "must be a UUID"})
		return ""
	}
	return id.String()
}

func (p *queryParams) text(name string) string {
	s := strings.TrimSpace(p.one(name))
	if n := len([]rune(s)); n > MaxQueryText {
		p.bad(name, fmt.Sprintf("must be at most %d characters, got %d", MaxQueryText, n))
	}
	return s
}

func (p *queryParams) int(name string, lo, hi int64) *int64 {
	s := p.typed(name)
	if s == "" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		p.bad(name, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
		return nil
	}
	return &n
}

func (p *queryParams) size() int {
	if n := p.int("size", 1, projections.MaxPageSize); n != nil {
		return int(*n)
	}
	return projections.DefaultPageSize
}

func (p *queryParams) bool(name string) *bool {
	s := p.typed(name)
	if s == "" {
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		p.bad(name, "must be true or false")
		return nil
	}
	return &b
}

func (p *queryParams) time(name string) *time.Time {
	s := p.typed(name)
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		p.bad(name, "must be an RFC 3339 timestamp such as 2025-01-31T23:59:59Z")
		return nil
	}
	return &t
}

// waitForm is the form of a wait the OpenAPI document declares: 0, milliseconds or seconds,
// at most 10s (MaxReadWait).
var waitForm = regexp.MustCompile(`^(0|[0-9]{1,4}ms|10000ms|[0-9](\.[0-9]{1,3})?s|10s)$`)

func (p *queryParams) duration(name string, most time.Duration) *time.Duration {
	s := p.typed(name)
	if s == "" {
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > most || !waitForm.MatchString(s) {
		p.bad(name, fmt.Sprintf("must be a duration from 0s to %s, such as 500ms or 2s", most))
		return nil
	}
	return &d
}

func (p *queryParams) uuid(name string) string {
	s := p.typed(name)
	if s == "" {
		return ""
	}
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		p.bad(name, "must be a UUID")
		return ""
	}
	return id.String()
}

func (p *queryParams) enum(name string, allowed []string) string {
	s := p.typed(name)
	if s != "" && !slices.Contains(allowed, s) {
		p.bad(name, "must be one of "+strings.Join(allowed, ", "))
	}
	return s
}

// list reads a parameter given repeatedly and/or comma-separated, each value in allowed.
func (p *queryParams) list(name string, allowed []string) []string {
	var out []string
	for _, v := range p.c.QueryParams()[name] {
		for _, s := range splitList(v) {
			if !slices.Contains(allowed, s) {
				p.bad(name, fmt.Sprintf("%q is not one of %s", s, strings.Join(allowed, ", ")))
				continue
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func (p *queryParams) cursor() *projections.Cursor {
	s := p.typed("cursor")
	if s == "" {
		return nil
	}
	c, err := projections.ParseCursor(s)
	if err != nil {
		p.bad("cursor", "is not a cursor this API returned")
		return nil
	}
	return &c
}

// splitList splits a comma-separated value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
