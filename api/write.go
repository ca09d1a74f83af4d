package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/command"
)

// Idempotency headers. Every POST of the write API accepts an Idempotency-Key: a request
// repeated with the same key gets the first response again, with Idempotent-Replayed.
const (
	HeaderIdempotencyKey    = "Idempotency-Key"
	HeaderIdempotentReplay  = "Idempotent-Replayed"
	MaxIdempotencyKeyLength = 200
)

// CommandHandler handles one command; the handlers of internal/command implement it.
type CommandHandler[C any] interface {
	Handle(ctx context.Context, cmd C, opts command.Options) (command.Result, error)
}

// IdempotencyKeys looks up the stored response of an Idempotency-Key in one service
// database, returning an error wrapping command.ErrUnknownIdempotencyKey for an unknown
// key; command.IdempotencyKeys implements it.
type IdempotencyKeys interface {
	Idempotency(ctx context.Context, key string) (command.IdempotencyRecord, error)
}

// InventoryCommands are the inventory context's routes: POST /v1/products and
// POST /v1/products/:id/restock. Keys must be the inventory database's store.
type InventoryCommands struct {
	Keys            IdempotencyKeys
	RegisterProduct CommandHandler[command.RegisterProduct]
	RestockProduct  CommandHandler[command.RestockProduct]
}

// PaymentCommands are the payments context's routes: POST /v1/customers,
// POST /v1/customers/:id/deposits and POST /v1/customers/:id/forget. Keys must be the
// payments database's store.
type PaymentCommands struct {
	Keys         IdempotencyKeys
	OpenAccount  CommandHandler[command.OpenAccount]
	DepositFunds CommandHandler[command.DepositFunds]
	// ForgetCustomer, optional, serves the forget route.
	ForgetCustomer CommandHandler[command.ForgetCustomer]
}

// OrderCommands are the orders context's routes: POST /v1/orders and
// POST /v1/orders/:id/cancel. Keys must be the orders database's store.
type OrderCommands struct {
	Keys        IdempotencyKeys
	PlaceOrder  CommandHandler[command.PlaceOrder]
	CancelOrder CommandHandler[command.CancelOrder]
}

// WriteHandlers are the command handlers the write API serves, by bounded context, and
// the bounds it runs them under. A nil context, or a nil handler, has its routes left out,
// so a process serves only the contexts it is configured for.
type WriteHandlers struct {
	Inventory *InventoryCommands
	Payments  *PaymentCommands
	Orders    *OrderCommands
	// Options bound the commands in flight and give each its deadline; the zero value
	// takes the defaults.
	Options WriteOptions
}

// RegisterWriteRoutes adds the write API's routes to e (see the *Commands types). Success
// responses are JSON {id, version} (plus status for orders): 201 with Location for
// products and customers, 200 for restocks and deposits, 202 for orders (with Location
// on placement). Errors are problem+json (see ErrorHandler); past h.Options' bound on
// commands in flight, or past a command's deadline, the answer is 503 with Retry-After.
// It fails if a configured context has no Keys, h.Options is invalid or its metrics are
// registered already.
func RegisterWriteRoutes(e *echo.Echo, h WriteHandlers) error {
	lim, err := newLimiter(h.Options)
	if err != nil {
		return err
	}
	post := func(path string, handle echo.HandlerFunc) { e.POST(path, handle, lim.middleware) }
	if inv := h.Inventory; inv != nil {
		if inv.Keys == nil {
			return errors.New("api: InventoryCommands.Keys is nil")
		}
		route(post, "/v1/products", inv.Keys, http.StatusCreated, inv.RegisterProduct, registerProduct)
		route(post, "/v1/products/:id/restock", inv.Keys, http.StatusOK, inv.RestockProduct, restockProduct)
	}
	if pay := h.Payments; pay != nil {
		if pay.Keys == nil {
			return errors.New("api: PaymentCommands.Keys is nil")
		}
		route(post, "/v1/customers", pay.Keys, http.StatusCreated, pay.OpenAccount, openAccount)
		route(post, "/v1/customers/:id/deposits", pay.Keys, http.StatusOK, pay.DepositFunds, depositFunds)
		route(post, "/v1/customers/:id/forget", pay.Keys, http.StatusOK, pay.ForgetCustomer, forgetCustomer)
	}
	if ord := h.Orders; ord != nil {
		if ord.Keys == nil {
			return errors.New("api: OrderCommands.Keys is nil")
		}
		route(post, "/v1/orders", ord.Keys, http.StatusAccepted, ord.PlaceOrder, placeOrder)
		route(post, "/v1/orders/:id/cancel", ord.Keys, http.StatusAccepted, ord.CancelOrder, cancelOrder)
	}
	return nil
}

// decodeFunc turns a request into a command, or returns the problem with it.
type decodeFunc[C any] func(c echo.Context, body []byte) (C, error)

// route registers, with post, POST path for handler h unless h is nil. A path without :id
// creates a resource: its responses carry Location path/<id>.
func route[C any](post func(string, echo.HandlerFunc), path string, keys IdempotencyKeys, status int, h CommandHandler[C], decode decodeFunc[C]) {
	if h == nil {
		return
	}
	rt := commandRoute{keys: keys, status: status}
	if !strings.Contains(path, ":id") {
		rt.collection = path
	}
	rt.run = func(c echo.Context, body []byte, opts command.Options) (command.Result, error) {
		cmd, err := decode(c, body)
		if err != nil {
			return command.Result{}, err
		}
		return h.Handle(c.Request().Context(), cmd, opts)
	}
	post(path, rt.handle)
}

// registerProduct decodes {sku,name,description,price_cents,currency,initial_stock}.
// price_cents is required: a missing price is not a free product.
func registerProduct(_ echo.Context, body []byte) (command.RegisterProduct, error) {
	var d decoder
	o := d.body(body, false)
	cmd := command.RegisterProduct{
		SKU: o.String("sku", false), Name: o.String("name", false), Description: o.String("description", false),
		PriceCents: o.Int("price_cents", true), Currency: o.String("currency", false),
		InitialStock: o.Int("initial_stock", false),
	}
	o.done()
	return cmd, d.finish(cmd.Validate)
}

// restockProduct decodes {quantity} for product :id.
func restockProduct(c echo.Context, body []byte) (command.RestockProduct, error) {
	var d decoder
	id := d.pathID(c)
	o := d.body(body, false)
	cmd := command.RestockProduct{ProductID: id, Quantity: o.Int("quantity", true)}
	o.done()
	return cmd, d.finish(nil)
}

// openAccount decodes {name,email}.
func openAccount(_ echo.Context, body []byte) (command.OpenAccount, error) {
	var d decoder
	o := d.body(body, false)
	cmd := command.OpenAccount{Name: o.String("name", false), Email: o.String("email", false)}
	o.done()
	return cmd, d.finish(nil)
}

// depositFunds decodes {amount_cents} for customer :id.
func depositFunds(c echo.Context, body []byte) (command.DepositFunds, error) {
	var d decoder
	id := d.pathID(c)
	o := d.body(body, false)
	cmd := command.DepositFunds{CustomerID: id, AmountCents: o.Int("amount_cents", true)}
	o.done()
	return cmd, d.finish(nil)
}

// forgetCustomer decodes customer :id and an empty (or {}) body. A customer token may
// forget its own customer only: another's is not found.
func forgetCustomer(c echo.Context, body []byte) (command.ForgetCustomer, error) {
	var d decoder
	id := d.pathID(c)
	o := d.body(body, true)
	o.done()
	if err := d.finish(nil); err != nil {
		return command.ForgetCustomer{}, err
	}
	if own, limited := CustomerOf(c.Request().Context()); limited && id != own {
		return command.ForgetCustomer{}, &command.NotFoundError{Type: "account", ID: id}
	}
	return command.ForgetCustomer{CustomerID: id}, nil
}

// placeOrder decodes {customer_id, lines:[{product_id,quantity}]}. Existence of the
// customer and products is the saga's business, not this context's. A customer token may
// place orders for its own customer only.
func placeOrder(c echo.Context, body []byte) (command.PlaceOrder, error) {
	var d decoder
	o := d.body(body, false)
	cmd := command.PlaceOrder{CustomerID: o.String("customer_id", false)}
	for _, l := range o.Objects("lines", false) {
		cmd.Lines = append(cmd.Lines, order.Line{ProductID: l.String("product_id", false), Quantity: l.Int("quantity", false)})
		l.done()
	}
	o.done()
	if err := d.finish(nil); err != nil {
		return cmd, err
	}
	if own, limited := CustomerOf(c.Request().Context()); limited {
		if id, ok := command.ParseID(cmd.CustomerID); ok && id != own {
			return cmd, notYours("customer_id")
		}
	}
	return cmd, nil
}

// cancelOrder decodes the optional body {reason} for order :id. A customer token may cancel
// its own customer's orders only: another's is not found.
func cancelOrder(c echo.Context, body []byte) (command.CancelOrder, error) {
	var d decoder
	id := d.pathID(c)
	o := d.body(body, true)
	cmd := command.CancelOrder{OrderID: id, Reason: o.String("reason", false)}
	cmd.CustomerID, _ = CustomerOf(c.Request().Context())
	o.done()
	return cmd, d.finish(nil)
}

// commandRoute serves one command route: Idempotency-Key, body, handler, response.
type commandRoute struct {
	keys       IdempotencyKeys
	status     int
	collection string // set for creates: Location is collection/<id>
	run        func(c echo.Context, body []byte, opts command.Options) (command.Result, error)
}

// response is a success response, as sent and as kept for Idempotency-Key replays.
type response struct {
	Status   int
	Location string
	Body     []byte
}

// storedResponse is the JSON kept in an idempotency record. The body is kept as a string
// so that a replay sends the very same bytes (jsonb would reformat a JSON value).
type storedResponse struct {
	Location string `json:"location,omitempty"`
	Body     string `json:"body"`
}

// resultBody is the JSON body of every command response.
type resultBody struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
	Status  string `json:"status,omitempty"`
}

// handle serves a request.
func (rt commandRoute) handle(c echo.Context) error {
	key, err := idempotencyKey(c.Request().Header)
	if err != nil {
		return err
	}
	body, err := readBody(c.Request())
	if err != nil {
		return err
	}
	if key != "" {
		return rt.handleIdempotent(c, key, body)
	}
	res, err := rt.run(c, body, command.Options{Metadata: metadata(c, "")})
	if err != nil {
		return err
	}
	resp, err := rt.response(res)
	if err != nil {
		return err
	}
	return send(c, resp, false)
}

// handleIdempotent serves a request with an Idempotency-Key: it replays the stored
// response of the same request, refuses the key for a different request, or runs the
// command and stores its response in the command's transaction. A request that fails
// stores nothing, so it may be retried with the same key.
func (rt commandRoute) handleIdempotent(c echo.Context, key string, body []byte) error {
	hash := requestHash(c.Request(), body)
	if replayed, err := rt.replay(c, key, hash); replayed || err != nil {
		return err
	}
	opts := command.Options{Metadata: metadata(c, key), Idempotency: func(res command.Result) (*command.IdempotencyRecord, error) {
		resp, err := rt.response(res)
		if err != nil {
			return nil, err
		}
		return resp.record(key, hash)
	}}
	res, err := rt.run(c, body, opts)
	if errors.Is(err, command.ErrIdempotencyKeyExists) {
		if replayed, rerr := rt.replay(c, key, hash); replayed || rerr != nil {
			return rerr
		}
	}
	if err != nil {
		return err
	}
	resp, err := rt.response(res)
	if err != nil {
		return err
	}
	return send(c, resp, false)
}

// replay answers with the response stored for key, if any: the same response for the
// same request, a 422 problem for a different one.
func (rt commandRoute) replay(c echo.Context, key string, hash []byte) (replayed bool, err error) {
	rec, err := rt.keys.Idempotency(c.Request().Context(), key)
	if errors.Is(err, command.ErrUnknownIdempotencyKey) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !bytes.Equal(rec.RequestHash, hash) {
		p := NewProblem(http.StatusUnprocessableEntity, "this Idempotency-Key was used for a different request",
			FieldError{Field: "header." + HeaderIdempotencyKey, Reason: "was used for a different request"})
		p.Code = "idempotency_key_reused"
		return false, p
	}
	var stored storedResponse
	if err := json.Unmarshal(rec.Response, &stored); err != nil {
		return false, err
	}
	return true, send(c, response{Status: rec.Status, Location: stored.Location, Body: []byte(stored.Body)}, true)
}

// response renders a command result.
func (rt commandRoute) response(res command.Result) (response, error) {
	body, err := json.Marshal(resultBody{ID: res.ID, Version: res.Version, Status: res.Status})
	if err != nil {
		return response{}, err
	}
	resp := response{Status: rt.status, Body: body}
	if rt.collection != "" {
		resp.Location = rt.collection + "/" + res.ID
	}
	return resp, nil
}

// record returns the idempotency record that keeps resp for key.
func (resp response) record(key string, hash []byte) (*command.IdempotencyRecord, error) {
	stored, err := json.Marshal(storedResponse{Location: resp.Location, Body: string(resp.Body)})
	if err != nil {
		return nil, err
	}
	return &command.IdempotencyRecord{Key: key, RequestHash: hash, Status: resp.Status, Response: stored}, nil
}

// send writes resp, marked as a replay if replayed.
func send(c echo.Context, resp response, replayed bool) error {
	if resp.Location != "" {
		c.Response().Header().Set(echo.HeaderLocation, resp.Location)
	}
	if replayed {
		c.Response().Header().Set(HeaderIdempotentReplay, "true")
	}
	return c.Blob(resp.Status, echo.MIMEApplicationJSON, resp.Body)
}

// idempotencyKey returns the request's Idempotency-Key ("" if none): at most
// MaxIdempotencyKeyLength printable ASCII characters, given once. A key sent as a quoted
// structured-field string ("…") is unquoted.
func idempotencyKey(h http.Header) (string, error) {
	values := h.Values(HeaderIdempotencyKey)
	if len(values) == 0 {
		return "", nil
	}
	key := strings.TrimSpace(values[0])
	if len(key) > 2 && key[0] == '"' && key[len(key)-1] == '"' {
		key = key[1 : len(key)-1]
	}
	reason := ""
	switch {
	case len(values) > 1:
		reason = "must be given once"
	case key == "" || len(key) > MaxIdempotencyKeyLength || strings.ContainsFunc(key, notPrintable):
		reason = "must be 1 to 200 printable ASCII characters"
	}
	if reason != "" {
		return "", NewProblem(http.StatusBadRequest, "invalid "+HeaderIdempotencyKey+" header",
			FieldError{Field: "header." + HeaderIdempotencyKey, Reason: reason})
	}
	return key, nil
}

// notPrintable reports whether r is outside printable ASCII.
func notPrintable(r rune) bool { return r < 0x20 || r > 0x7e }

// readBody reads the whole body, which must be JSON if not empty. Past the body limit
// the BodyLimit middleware's 413 error is returned.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return nil, he
	}
	if err != nil {
		return nil, NewProblem(http.StatusBadRequest, "the request body could not be read")
	}
	if len(body) > 0 && !isJSON(r.Header.Get(echo.HeaderContentType)) {
		return nil, NewProblem(http.StatusUnsupportedMediaType, "the request body must be application/json")
	}
	return body, nil
}

// isJSON reports whether a Content-Type is JSON; a missing one is taken as JSON.
func isJSON(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == echo.MIMEApplicationJSON || strings.HasSuffix(mt, "+json"))
}

// requestHash identifies a request for Idempotency-Key reuse: method, path and body.
func requestHash(r *http.Request, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	h.Write(body)
	return h.Sum(nil)
}

// maxRequestIDLength bounds the client's X-Request-Id kept as correlation id.
const maxRequestIDLength = 200

// metadata returns the metadata of the request's events: correlation and causation id
// the request id (a new UUID if it has none or an overlong one), the Idempotency-Key and
// the principal the request's token names. The W3C trace context is the append's span's,
// which continues the request's (see traced), and the event store records it.
func metadata(c echo.Context, key string) command.Metadata {
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	if len(rid) > maxRequestIDLength {
		rid = ""
	}
	m := command.Metadata{CorrelationID: rid, CausationID: rid}
	if key != "" {
		m.Extra = map[string]string{"idempotency_key": key}
	}
	if p, ok := auth.FromContext(c.Request().Context()); ok { // who did it, for the audit trail
		m.Principal = command.Principal{Subject: p.Subject, ClientID: p.ClientID}
	}
	return m
}
