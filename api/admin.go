package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shopflow/shopflow/console"
	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/projections"
)

// Admin is what the admin API needs of the operator console's data; *console.Service
// implements it. Not-found answers wrap domain.ErrNotFound, refused actions are
// *domain.RuleError or *domain.ValidationError, as everywhere in the API.
type Admin interface {
	Overview() (console.Overview, error)
	StreamTypes() []console.StreamType
	Streams(ctx context.Context, streamType, before string, limit int) ([]console.Stream, error)
	Find(ctx context.Context, q string) ([]console.Stream, error)
	Events(ctx context.Context, streamID string, fromVersion int64, limit int) (console.EventPage, error)
	State(ctx context.Context, streamID string, version int64, at time.Time) (console.State, error)
	Journey(ctx context.Context, orderID string) (console.Journey, error)
	DeadLetterSources() []string
	DeadLetters(ctx context.Context, source string) ([]console.DeadLetter, error)
	Redrive(ctx context.Context, source string, ids []string, all bool) (console.RedriveResult, error)
	StartRebuild(name string) (console.Rebuild, error)
	RebuildOf(name string) (console.Rebuild, error)
}

// AdminPages are routes served with the admin API under the same guard: the console's
// HTML pages (console.Pages). Register adds each with add.
type AdminPages interface {
	Register(add func(method, path string, h echo.HandlerFunc))
}

// AdminAccessNote says who may use the admin routes; the console shows it and
// `shopflow serve` logs it.
const AdminAccessNote = "a bearer token with the admin scope (locally: bin/shopflow token --role admin)"

// Browsers on the console.
//
// A browser that follows a link cannot send an Authorization header, so the console's
// pages also take the bearer token from a cookie, ConsoleTokenCookie, which the console's
// sign-in page sets (console.Pages): HttpOnly, SameSite=Strict and limited to /console,
// so that no script and no other site's page can use it, and the console's forms refuse
// posts from other origins. Only /console routes read it; the JSON API takes the header
// only. A console page asked without a token that grants it is redirected to the sign-in
// page (ConsoleLoginPath), with the reason.
const (
	ConsoleTokenCookie = console.TokenCookie
	ConsoleLoginPath   = console.LoginPath
	ConsoleLogoutPath  = console.LogoutPath
)

// consolePage reports whether a request is for the console's pages.
func consolePage(c echo.Context) bool {
	return c.Path() == "/console" || strings.HasPrefix(c.Path(), "/console/")
}

// requestToken returns the request's bearer token: its Authorization header, or on the
// console's pages the console's cookie when the header is absent.
func requestToken(c echo.Context) (string, error) {
	if consolePage(c) && c.Request().Header.Get(echo.HeaderAuthorization) == "" {
		if ck, err := c.Cookie(ConsoleTokenCookie); err == nil && ck.Value != "" {
			return ck.Value, nil
		}
	}
	return bearerToken(c.Request().Header)
}

// toConsoleLogin answers a console page that err (401 or 403) refused with a redirect to
// the sign-in page, naming the page and the reason; other requests and errors are left
// to the error handler.
func toConsoleLogin(c echo.Context, err error) error {
	var p *Problem
	if c.Request().Method != http.MethodGet || !consolePage(c) || !errors.As(err, &p) ||
		(p.Status != http.StatusUnauthorized && p.Status != http.StatusForbidden) {
		return err
	}
	q := url.Values{"next": {c.Request().URL.RequestURI()}, "why": {p.Detail}}
	return c.Redirect(http.StatusSeeOther, ConsoleLoginPath+"?"+q.Encode())
}

// RegisterAdminRoutes mounts every operator route — the JSON admin API below and the pages
// of each AdminPages — in one group. None of them is listed in Routes, so the one guard of
// every request (see New) gives each AdminAccess: a token with the admin scope, else 401
// or 403 (see AdminAccessNote).
//
//	GET  /v1/overview                          the sampled overview (503 before the first sample)
//	GET  /v1/streams                           ?type=&q=&before=&limit=   find streams
//	GET  /v1/streams/{id}/events               ?from_version=&limit=      a page of a stream's events
//	GET  /v1/streams/{id}/state                ?version= | ?at=           time travel
//	GET  /v1/orders/{id}/journey               an order's events in all contexts
//	GET  /v1/dead-letters/{source}             a reactor's (or the projections') dead letters
//	POST /v1/dead-letters/{source}/redrive     {"letters":["topic/partition/offset",…]} or {"all":true}
//	GET  /v1/read-models                       status of every read model, with this process's rebuilds
//	POST /v1/read-models/{name}/rebuild        start a rebuild (202), 409 while one runs
//	GET  /v1/read-models/{name}/rebuild        its progress
func RegisterAdminRoutes(e *echo.Echo, a Admin, pages ...AdminPages) {
	g := e.Group("")
	add := func(method, path string, h echo.HandlerFunc) { g.Add(method, path, h) }
	h := adminHandlers{a}
	add(http.MethodGet, "/v1/overview", h.overview)
	add(http.MethodGet, "/v1/streams", h.streams)
	add(http.MethodGet, "/v1/streams/:id/events", h.events)
	add(http.MethodGet, "/v1/streams/:id/state", h.state)
	add(http.MethodGet, "/v1/orders/:id/journey", h.journey)
	add(http.MethodGet, "/v1/dead-letters/:source", h.deadLetters)
	add(http.MethodPost, "/v1/dead-letters/:source/redrive", h.redrive)
	add(http.MethodGet, "/v1/read-models", h.readModels)
	add(http.MethodPost, "/v1/read-models/:name/rebuild", h.startRebuild)
	add(http.MethodGet, "/v1/read-models/:name/rebuild", h.rebuild)
	for _, p := range pages {
		p.Register(add)
	}
}

type adminHandlers struct{ a Admin }

func (h adminHandlers) overview(c echo.Context) error {
	if err := newQueryParams(c).err(); err != nil {
		return err
	}
	o, err := h.a.Overview()
	if errors.Is(err, console.ErrUnavailable) {
		p := NewProblem(http.StatusServiceUnavailable, err.Error())
		p.RetryAfter = time.Second
		return p
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, o)
}

// streamsPage is the answer of GET /v1/streams.
type streamsPage struct {
	Types   []console.StreamType `json:"types"`
	Streams []console.Stream     `json:"streams"`
	// NextBefore continues a listing by type, "" at its end.
	NextBefore string `json:"next_before,omitempty"`
}

func (h adminHandlers) streams(c echo.Context) error {
	p := newQueryParams(c, "type", "q", "before", "limit")
	types := h.a.StreamTypes()
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.Name
	}
	typ, q, before := p.enum("type", names), p.text("q"), p.before(names)
	limit := p.limit()
	if typ == "" && before != "" { // a stream id names its type: the listing it pages
		typ = before[:len(before)-len("-")-uuidLength]
	}
	if err := p.err(); err != nil {
		return err
	}
	page := streamsPage{Types: types, Streams: []console.Stream{}}
	var err error
	switch {
	case q != "":
		page.Streams, err = h.a.Find(c.Request().Context(), q)
	case typ != "":
		page.Streams, err = h.a.Streams(c.Request().Context(), typ, before, limit)
		if n := len(page.Streams); err == nil && n == limit {
			page.NextBefore = page.Streams[n-1].StreamID
		}
	}
	if err != nil {
		return err
	}
	if page.Streams == nil {
		page.Streams = []console.Stream{}
	}
	return c.JSON(http.StatusOK, page)
}

func (h adminHandlers) events(c echo.Context) error {
	p := newQueryParams(c, "from_version", "limit")
	id := p.streamID()
	from := p.int("from_version", 1, math.MaxInt64)
	limit := p.limit()
	if err := p.err(); err != nil {
		return err
	}
	page, err := h.a.Events(c.Request().Context(), id, deref(from, 1), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

func (h adminHandlers) state(c echo.Context) error {
	p := newQueryParams(c, "version", "at")
	id := p.streamID()
	version := p.int("version", 1, math.MaxInt64)
	at := p.time("at")
	if err := p.err(); err != nil {
		return err
	}
	var when time.Time
	if at != nil {
		when = *at
	}
	st, err := h.a.State(c.Request().Context(), id, deref(version, 0), when)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (h adminHandlers) journey(c echo.Context) error {
	p := newQueryParams(c)
	id := p.pathID()
	if err := p.err(); err != nil {
		return err
	}
	j, err := h.a.Journey(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

func (h adminHandlers) deadLetters(c echo.Context) error {
	p := newQueryParams(c)
	source := p.pathEnum("source", h.a.DeadLetterSources())
	if err := p.err(); err != nil {
		return err
	}
	letters, err := h.a.DeadLetters(c.Request().Context(), source)
	if err != nil {
		return err
	}
	if letters == nil {
		letters = []console.DeadLetter{}
	}
	return c.JSON(http.StatusOK, map[string]any{"source": source, "letters": letters})
}

// redriveRequest is the body of POST /v1/dead-letters/{source}/redrive.
type redriveRequest struct {
	Letters []string `json:"letters"`
	All     bool     `json:"all"`
}

func (h adminHandlers) redrive(c echo.Context) error {
	p := newQueryParams(c)
	source := p.pathEnum("source", h.a.DeadLetterSources())
	req, fields := decodeRedrive(c)
	p.invalid = append(p.invalid, fields...)
	if err := p.err(); err != nil {
		return err
	}
	res, err := h.a.Redrive(c.Request().Context(), source, req.Letters, req.All)
	if errors.Is(err, console.ErrNoLetters) {
		return lettersNotFound(err)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// lettersNotFound is the 404 of a redrive that names letters the topic does not hold (none
// is re-published), with the field of each: the request is well formed, what it names is not
// there.
func lettersNotFound(err error) *Problem {
	var fields []FieldError
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		for _, f := range ve.Fields {
			fields = append(fields, FieldError(f))
		}
	}
	return NewProblem(http.StatusNotFound, "a named dead letter is not in the topic; nothing was re-published", fields...)
}

// decodeRedrive reads a redrive body strictly: unknown members and wrong types are bad.
func decodeRedrive(c echo.Context) (redriveRequest, []FieldError) {
	var req redriveRequest
	body, err := readBody(c.Request())
	if err != nil {
		return req, []FieldError{{Field: "body", Reason: err.Error()}}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, []FieldError{{Field: "body", Reason: `must be {"letters":["<topic>/<partition>/<offset>",…]} or {"all":true}: ` + err.Error()}}
	}
	switch {
	case req.All && len(req.Letters) > 0:
		return req, []FieldError{{Field: "body.all", Reason: "give letters or all, not both"}}
	case !req.All && len(req.Letters) == 0:
		return req, []FieldError{{Field: "body.letters", Reason: "name at least one letter, or set all"}}
	}
	return req, nil
}

func (h adminHandlers) readModels(c echo.Context) error {
	if err := newQueryParams(c).err(); err != nil {
		return err
	}
	o, err := h.a.Overview()
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"sampled_at": o.SampledAt, "read_models": o.ReadModels})
}

func (h adminHandlers) startRebuild(c echo.Context) error {
	p := newQueryParams(c)
	name := p.pathEnum("name", projections.Names())
	if err := p.err(); err != nil {
		return err
	}
	r, err := h.a.StartRebuild(name)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/v1/read-models/"+name+"/rebuild")
	return c.JSON(http.StatusAccepted, r)
}

func (h adminHandlers) rebuild(c echo.Context) error {
	p := newQueryParams(c)
	name := p.pathEnum("name", projections.Names())
	if err := p.err(); err != nil {
		return err
	}
	r, err := h.a.RebuildOf(name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// uuidLength is the length of a UUID's canonical form, the end of every stream id.
const uuidLength = 36

// before reads the before parameter of a streams listing: the stream id of a known type
// the previous page ended with (its next_before).
func (p *queryParams) before(types []string) string {
	s := p.typed("before")
	if s == "" {
		return ""
	}
	if !streamIDPattern.MatchString(s) || !slices.Contains(types, s[:len(s)-len("-")-uuidLength]) {
		p.bad("before", "must be a stream id of one of the types "+strings.Join(types, ", ")+" (the next_before of the previous page)")
		return ""
	}
	return s
}

// streamIDPattern is the form of every stream id: "<type>-<uuid>".
var streamIDPattern = regexp.MustCompile(`^[a-z][a-z_]*-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// streamID reads the :id path parameter, which must be a stream id.
func (p *queryParams) streamID() string {
	id := p.c.Param("id")
	if !streamIDPattern.MatchString(id) {
		p.invalid = append(p.invalid, FieldError{Field: "path.id",
			Reason: "must be a stream id: <type>-<uuid> in lower case, such as order-0190c2d1-7f3a-7cc1-9a43-3c7b5e0f1a2b"})
	}
	return id
}

// pathEnum reads a path parameter that must be one of allowed.
func (p *queryParams) pathEnum(name string, allowed []string) string {
	v := p.c.Param(name)
	if !slices.Contains(allowed, v) {
		p.invalid = append(p.invalid, FieldError{Field: "path." + name, Reason: "must be one of " + strings.Join(allowed, ", ")})
	}
	return v
}

// limit reads the limit parameter of admin pages.
func (p *queryParams) limit() int {
	if n := p.int("limit", 1, console.MaxPageSize); n != nil {
		return int(*n)
	}
	return console.DefaultPageSize
}

func deref(v *int64, def int64) int64 {
	if v == nil {
		return def
	}
	return *v
}
