package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shopflow/shopflow/projections"
)

//go:embed templates/*.html
var templateFiles embed.FS

// Pages serves the console's HTML: server-rendered from templates embedded in the binary,
// with a few lines of inline script for the live overview (server-sent events) and no
// asset fetched from anywhere else.
type Pages struct {
	svc    *Service
	tmpl   *template.Template
	access string
}

// NewPages returns the pages of svc; access is the note on who may use the console, shown
// on every page.
func NewPages(svc *Service, access string) (*Pages, error) {
	t, err := template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	return &Pages{svc: svc, tmpl: t, access: access}, nil
}

// Register adds the console's routes with add (api.RegisterAdminRoutes passes its guarded
// one):
//
//	GET  /console/login                            sign in: hand over a bearer token (?next=&why=)
//	POST /console/login                            token=…&next=… sets TokenCookie
//	POST /console/logout                           clears it
//	GET  /console                                  overview (live: /console/overview/live)
//	GET  /console/streams                          find streams (?q=, ?type=&before=)
//	GET  /console/streams/{id}                     events (?from_version=&limit=), time travel (?version= | ?at=)
//	GET  /console/orders                           ?id= → the order's journey
//	GET  /console/orders/{id}                      an order's journey
//	GET  /console/dead-letters                     ?source=
//	POST /console/dead-letters/{source}/redrive    letters=…&all=1, confirm=yes to do it
//	GET  /console/read-models                      status and rebuilds
//	POST /console/read-models/{name}/rebuild       start a rebuild
func (p *Pages) Register(add func(method, path string, h echo.HandlerFunc)) {
	add(http.MethodGet, LoginPath, p.login)
	add(http.MethodPost, LoginPath, p.signIn)
	add(http.MethodPost, LogoutPath, p.signOut)
	add(http.MethodGet, "/console", p.overview)
	add(http.MethodGet, "/console/overview/live", p.live)
	add(http.MethodGet, "/console/streams", p.streams)
	add(http.MethodGet, "/console/streams/:id", p.stream)
	add(http.MethodGet, "/console/orders", p.findOrder)
	add(http.MethodGet, "/console/orders/:id", p.journey)
	add(http.MethodGet, "/console/dead-letters", p.deadLetters)
	add(http.MethodPost, "/console/dead-letters/:source/redrive", p.redrive)
	add(http.MethodGet, "/console/read-models", p.readModels)
	add(http.MethodPost, "/console/read-models/:name/rebuild", p.rebuild)
}

// page is what every template gets: the layout's data and the page's own.
type page struct {
	Title   string
	Nav     string
	Access  string
	Refresh int // seconds; 0: no automatic refresh
	Error   string
	Data    any
}

// render answers a page rendered from template name.
func (p *Pages) render(c echo.Context, status int, name string, pg page) error {
	pg.Access = p.access
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, pg); err != nil {
		return fmt.Errorf("console: render %s: %w", name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// fail renders an error page; not-found errors answer 404, others 500 (logged by the
// request log).
func (p *Pages) fail(c echo.Context, title, nav string, err error) error {
	status := http.StatusInternalServerError
	if isNotFound(err) {
		status = http.StatusNotFound
	}
	if isInvalid(err) {
		status = http.StatusBadRequest
	}
	if rerr := p.render(c, status, "error", page{Title: title, Nav: nav, Error: err.Error()}); rerr != nil {
		return rerr
	}
	if status == http.StatusInternalServerError {
		return err // answered already; returned for the request log
	}
	return nil
}

func (p *Pages) overview(c echo.Context) error {
	o, err := p.svc.Overview()
	if err != nil {
		return p.render(c, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Refresh: 2})
	}
	return p.render(c, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Data: o})
}

// live streams the overview's body as server-sent events, one per sample, until the client
// goes away.
func (p *Pages) live(c echo.Context) error {
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	ctx := c.Request().Context()
	var last time.Time
	t := time.NewTicker(p.svc.cfg.SampleEvery / 4)
	defer t.Stop()
	for {
		if o, err := p.svc.Overview(); err == nil && o.SampledAt.After(last) {
			last = o.SampledAt
			var buf bytes.Buffer
			if err := p.tmpl.ExecuteTemplate(&buf, "overview-body", o); err != nil {
				return err
			}
			fmt.Fprint(w, "event: overview\n")
			for _, line := range strings.Split(buf.String(), "\n") {
				fmt.Fprintf(w, "data: %s\n", line)
			}
			fmt.Fprint(w, "\n")
			w.Flush()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// streamsData is the streams page's data.
type streamsData struct {
	Q, Type    string
	Types      []StreamType
	Streams    []Stream
	Searched   bool
	NextBefore string
}

func (p *Pages) streams(c echo.Context) error {
	d := streamsData{Q: strings.TrimSpace(c.QueryParam("q")), Type: c.QueryParam("type"), Types: p.svc.StreamTypes()}
	var err error
	switch {
	case d.Q != "":
		d.Searched = true
		d.Streams, err = p.svc.Find(c.Request().Context(), d.Q)
	case d.Type != "":
		d.Searched = true
		d.Streams, err = p.svc.Streams(c.Request().Context(), d.Type, c.QueryParam("before"), DefaultPageSize)
		if len(d.Streams) == DefaultPageSize {
			d.NextBefore = d.Streams[len(d.Streams)-1].StreamID
		}
	}
	if err != nil {
		return p.fail(c, "Streams", "streams", err)
	}
	if d.Q != "" && len(d.Streams) == 1 {
		return c.Redirect(http.StatusSeeOther, "/console/streams/"+url.PathEscape(d.Streams[0].StreamID))
	}
	return p.render(c, http.StatusOK, "streams", page{Title: "Streams", Nav: "streams", Data: d})
}

// streamData is a stream page's data: a page of events and, when asked, a state.
type streamData struct {
	Page        EventPage
	ShownTo     int64
	Limit       int
	PrevFrom    int64
	LastFrom    int64
	State       *State
	StateJSON   string
	AskVersion  string
	AskAt       string
	Foldable    bool
	TimeTravel  bool
	PrevVersion int64
	NextVersion int64
}

func (p *Pages) stream(c echo.Context) error {
	id := c.Param("id")
	from, err1 := intParam(c, "from_version", 1, 1, math.MaxInt64)
	limit, err2 := intParam(c, "limit", DefaultPageSize, 1, MaxPageSize)
	if err := firstErr(err1, err2); err != nil {
		return p.fail(c, id, "streams", err)
	}
	ctx := c.Request().Context()
	pg, err := p.svc.Events(ctx, id, from, int(limit))
	if err != nil {
		return p.fail(c, id, "streams", err)
	}
	t, _, _ := ParseStreamID(id)
	d := streamData{Page: pg, ShownTo: from - 1 + int64(len(pg.Events)), Limit: int(limit), PrevFrom: max(1, from-limit), LastFrom: max(1, pg.Version-limit+1),
		AskVersion: c.QueryParam("version"), AskAt: c.QueryParam("at"), Foldable: t.Foldable}
	if d.AskVersion != "" || d.AskAt != "" {
		if err := p.fold(c, &d); err != nil {
			return p.fail(c, id, "streams", err)
		}
	}
	return p.render(c, http.StatusOK, "stream", page{Title: id, Nav: "streams", Data: d})
}

// fold fills a stream page's time travel from its version or at parameter.
func (p *Pages) fold(c echo.Context, d *streamData) error {
	var version int64 = math.MaxInt64
	var at time.Time
	var err error
	if d.AskAt != "" {
		if at, err = time.Parse(time.RFC3339Nano, d.AskAt); err != nil {
			return invalid("at must be an RFC 3339 time such as 2025-01-31T23:59:59Z")
		}
	} else if d.AskVersion != "head" {
		if version, err = strconv.ParseInt(d.AskVersion, 10, 64); err != nil || version < 1 {
			return invalid("version must be a positive integer")
		}
	}
	st, err := p.svc.State(c.Request().Context(), d.Page.StreamID, min(version, d.Page.Version), at)
	if err != nil {
		return err
	}
	d.State, d.TimeTravel = &st, true
	d.StateJSON = prettyJSON(st.State)
	d.PrevVersion, d.NextVersion = st.AtVersion-1, st.AtVersion+1
	if d.NextVersion > st.Version {
		d.NextVersion = 0
	}
	return nil
}

func (p *Pages) findOrder(c echo.Context) error {
	id := strings.TrimSpace(c.QueryParam("id"))
	if id == "" {
		return p.render(c, http.StatusOK, "find-order", page{Title: "Find an order", Nav: "overview"})
	}
	return c.Redirect(http.StatusSeeOther, "/console/orders/"+url.PathEscape(id))
}

func (p *Pages) journey(c echo.Context) error {
	id := c.Param("id")
	j, err := p.svc.Journey(c.Request().Context(), strings.ToLower(id))
	if err != nil {
		return p.fail(c, "Order "+id, "overview", err)
	}
	refresh := 0
	if j.Status == "pending" {
		refresh = 2
	}
	return p.render(c, http.StatusOK, "journey", page{Title: "Order " + id, Nav: "overview", Refresh: refresh, Data: j})
}

// deadLettersData is the dead-letters page's data.
type deadLettersData struct {
	Source   string
	Sources  []string
	Counts   map[string]int64
	Letters  []DeadLetter
	Redriven []string
	// Pending reports redriven letters whose processing is not seen yet.
	Pending bool
	Confirm *confirmData
}

// confirmData is the confirmation step of a redrive.
type confirmData struct {
	All     bool
	Letters []DeadLetter
}

func (p *Pages) deadLetters(c echo.Context) error {
	sources := p.svc.DeadLetterSources()
	d := deadLettersData{Source: c.QueryParam("source"), Sources: sources, Counts: map[string]int64{}}
	if d.Source == "" {
		d.Source = sources[0]
	}
	if o, err := p.svc.Overview(); err == nil {
		for _, n := range o.DeadLetters {
			d.Counts[n.Source] = n.Count
		}
	}
	letters, err := p.svc.DeadLetters(c.Request().Context(), d.Source)
	if err != nil {
		return p.fail(c, "Dead letters", "dead-letters", err)
	}
	d.Letters = letters
	if r := c.QueryParam("redriven"); r != "" {
		d.Redriven = strings.Split(r, ",")
		d.Pending = slices.ContainsFunc(letters, func(l DeadLetter) bool {
			return slices.Contains(d.Redriven, l.ID) && l.Processed != nil && !*l.Processed
		})
	}
	refresh := 0
	if d.Pending {
		refresh = 2
	}
	return p.render(c, http.StatusOK, "dead-letters", page{Title: "Dead letters", Nav: "dead-letters", Refresh: refresh, Data: d})
}

func (p *Pages) redrive(c echo.Context) error {
	if err := sameOrigin(c); err != nil {
		return err
	}
	source := c.Param("source")
	form, err := c.FormParams()
	if err != nil {
		return p.fail(c, "Dead letters", "dead-letters", invalid("the form does not parse"))
	}
	ids, all := form["letters"], form.Get("all") == "1"
	if form.Get("confirm") != "yes" {
		return p.confirmRedrive(c, source, ids, all)
	}
	res, err := p.svc.Redrive(c.Request().Context(), source, ids, all)
	if err != nil {
		return p.fail(c, "Dead letters", "dead-letters", err)
	}
	q := url.Values{"source": {source}, "redriven": {strings.Join(res.Republished, ",")}}
	return c.Redirect(http.StatusSeeOther, "/console/dead-letters?"+q.Encode())
}

// confirmRedrive shows what a redrive would re-publish and asks to confirm it.
func (p *Pages) confirmRedrive(c echo.Context, source string, ids []string, all bool) error {
	letters, err := p.svc.DeadLetters(c.Request().Context(), source)
	if err != nil {
		return p.fail(c, "Dead letters", "dead-letters", err)
	}
	if !all {
		letters = slices.DeleteFunc(letters, func(l DeadLetter) bool { return !slices.Contains(ids, l.ID) })
	}
	if len(letters) == 0 {
		return p.fail(c, "Dead letters", "dead-letters", invalid("choose at least one letter to redrive"))
	}
	d := deadLettersData{Source: source, Sources: p.svc.DeadLetterSources(), Confirm: &confirmData{All: all, Letters: letters}}
	return p.render(c, http.StatusOK, "confirm-redrive", page{Title: "Confirm redrive", Nav: "dead-letters", Data: d})
}

// readModelsData is the read-models page's data.
type readModelsData struct {
	Sampled    time.Time
	ReadModels []ReadModelStatus
	Rebuilds   map[string]Rebuild
	Running    bool
}

func (p *Pages) readModels(c echo.Context) error {
	d := readModelsData{Rebuilds: p.svc.Rebuilds()}
	if o, err := p.svc.Overview(); err == nil {
		d.Sampled, d.ReadModels = o.SampledAt, o.ReadModels
	}
	if len(d.ReadModels) == 0 { // before the first sample: the names at least
		for _, n := range projections.Names() {
			d.ReadModels = append(d.ReadModels, ReadModelStatus{ProjectionStatus: projections.ProjectionStatus{Projection: n}})
		}
	}
	for _, r := range d.Rebuilds {
		d.Running = d.Running || r.running()
	}
	refresh := 0
	if d.Running {
		refresh = 1
	}
	return p.render(c, http.StatusOK, "read-models", page{Title: "Read models", Nav: "read-models", Refresh: refresh, Data: d})
}

func (p *Pages) rebuild(c echo.Context) error {
	if err := sameOrigin(c); err != nil {
		return err
	}
	if _, err := p.svc.StartRebuild(c.Param("name")); err != nil {
		return p.fail(c, "Read models", "read-models", err)
	}
	return c.Redirect(http.StatusSeeOther, "/console/read-models")
}

// sameOrigin refuses a form post from another site (CSRF): browsers send Sec-Fetch-Site
// or Origin with every POST.
func sameOrigin(c echo.Context) error {
	h := c.Request().Header
	if site := h.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return echo.NewHTTPError(http.StatusForbidden, "the console accepts forms from its own pages only")
	}
	if origin := h.Get("Origin"); origin != "" {
		if u, err := url.Parse(origin); err != nil || u.Host != c.Request().Host {
			return echo.NewHTTPError(http.StatusForbidden, "the console accepts forms from its own pages only")
		}
	}
	return nil
}

// intParam reads an integer query parameter within [lo, hi], def if absent.
func intParam(c echo.Context, name string, def, lo, hi int64) (int64, error) {
	s := c.QueryParam(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, invalid(fmt.Sprintf("%s must be an integer from %d to %d", name, lo, hi))
	}
	return n, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func prettyJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
