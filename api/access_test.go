package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/projections/projectionstest"
)

// operation is one documented operation's security: the alternatives, each a list of
// scopes (OpenAPI security requirement objects of the bearer scheme).
type operation struct {
	Security *[]map[string][]string `yaml:"security"`
}

// documentedScopes returns every documented operation ("get /v1/orders/{id}") with the
// scopes that grant it, nil for a public one (security: []).
func documentedScopes(t testing.TB) map[string][]string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]operation `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	ops := map[string][]string{}
	for path, methods := range doc.Paths {
		for method, op := range methods {
			if op.Security == nil {
				t.Errorf("%s %s declares no security", method, path)
				continue
			}
			var scopes []string
			for _, alt := range *op.Security {
				scopes = append(scopes, alt["bearer"]...)
			}
			ops[method+" "+path] = scopes
		}
	}
	return ops
}

// routeKey turns a documented operation into the key of api.Routes.
func routeKey(op string) string {
	method, path, _ := strings.Cut(op, " ")
	return strings.ToUpper(method) + " " + regexp.MustCompile(`\{([a-z_]+)\}`).ReplaceAllString(path, ":$1")
}

// enforcedScopes are the scopes that grant a route by api.Routes (nil: public).
func enforcedScopes(key string) []string {
	a, ok := api.Routes[key]
	if !ok {
		a = api.AdminAccess
	}
	if a.Public {
		return nil
	}
	scopes := slices.Clone(a.Scopes)
	if a.Customer {
		scopes = append(scopes, auth.ScopeCustomer)
	}
	return scopes
}

// allServed returns a server with every route: the write and admin APIs on real databases,
// the read API over fakes (a refused request never reaches them).
func allServed(t testing.TB) *echo.Echo {
	e := newAdminAPI(t).e
	api.RegisterReadRoutes(e, &fakeReads{})
	return e
}

// request sends method target with token ("" for none) and returns the answer.
func request(e *echo.Echo, method, target, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	if token != "" {
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// wantAuthProblem checks a 401 or 403 problem with its WWW-Authenticate challenge.
func wantAuthProblem(t testing.TB, rec *httptest.ResponseRecorder, status int, what string) {
	t.Helper()
	if rec.Code != status || rec.Header().Get(echo.HeaderContentType) != api.ProblemContentType {
		t.Errorf("%s: %d %s, want %d problem: %s", what, rec.Code, rec.Header().Get(echo.HeaderContentType), status, rec.Body)
		return
	}
	if !strings.HasPrefix(rec.Header().Get(echo.HeaderWWWAuthenticate), "Bearer ") {
		t.Errorf("%s: WWW-Authenticate = %q", what, rec.Header().Get(echo.HeaderWWWAuthenticate))
	}
}

// Walks the OpenAPI document: every operation declares the scopes api.Routes enforces, and
// each answers 401 without a token (or with a bad one), 403 with a token of every other
// scope, and neither with a token of one of its scopes.
func TestEveryRouteRefusesWithoutAToken(t *testing.T) {
	e := allServed(t)
	ops := documentedScopes(t)
	if len(ops) < 15 {
		t.Fatalf("only %d documented operations", len(ops))
	}
	expired := tokenFor(auth.TokenSpec{Scopes: auth.Scopes, TTL: -time.Hour})
	foreign := mustValue(mustValue(auth.NewSigner()).Mint(auth.TokenSpec{Scopes: auth.Scopes}))
	for op, documented := range ops {
		key := routeKey(op)
		scopes := enforcedScopes(key)
		if !slices.Equal(sorted(documented), sorted(scopes)) {
			t.Errorf("%s: documented scopes %v, enforced %v", op, documented, scopes)
		}
		method, target := strings.Fields(key)[0], strings.ReplaceAll(strings.Fields(key)[1], ":id", uuid.NewString())
		if scopes == nil {
			if rec := request(e, method, target, "", ""); rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
				t.Errorf("%s: public route answered %d", op, rec.Code)
			}
			continue
		}
		wantAuthProblem(t, request(e, method, target, "", ""), http.StatusUnauthorized, op+" without a token")
		wantAuthProblem(t, request(e, method, target, expired, ""), http.StatusUnauthorized, op+" with an expired token")
		wantAuthProblem(t, request(e, method, target, foreign, ""), http.StatusUnauthorized, op+" with another issuer's key")
		wrong := slices.DeleteFunc(slices.Clone(auth.Scopes), func(s string) bool { return slices.Contains(scopes, s) })
		wantAuthProblem(t, request(e, method, target, tokenFor(auth.TokenSpec{Scopes: wrong, CustomerID: uuid.NewString()}), ""),
			http.StatusForbidden, fmt.Sprintf("%s with scopes %v", op, wrong))
		for _, s := range scopes {
			tok := tokenFor(auth.TokenSpec{Scopes: []string{s}, CustomerID: uuid.NewString()})
			if rec := request(e, method, target, tok, "{}"); rec.Code == http.StatusUnauthorized ||
				(rec.Code == http.StatusForbidden && rec.Body.String() != "" && !strings.Contains(rec.Body.String(), "other_customer")) {
				t.Errorf("%s with scope %s: %d %s", op, s, rec.Code, rec.Body)
			}
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// A route the table does not list needs admin: what the console adds is closed until
// someone says otherwise; a request no route matches needs a valid token first.
func TestUnlistedRoutesNeedAdmin(t *testing.T) {
	e := allServed(t)
	e.GET("/v1/unlisted", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	wantAuthProblem(t, request(e, http.MethodGet, "/v1/unlisted", "", ""), http.StatusUnauthorized, "no token")
	wantAuthProblem(t, request(e, http.MethodGet, "/v1/unlisted", staffToken, ""), http.StatusForbidden, "staff token")
	if rec := request(e, http.MethodGet, "/v1/unlisted", tokenFor(auth.TokenSpec{Scopes: []string{auth.ScopeAdmin}}), ""); rec.Code != http.StatusOK {
		t.Errorf("admin token: %d %s", rec.Code, rec.Body)
	}
	wantAuthProblem(t, request(e, http.MethodGet, "/v1/nothing-here", "", ""), http.StatusUnauthorized, "unknown route without a token")
	if rec := request(e, http.MethodGet, "/v1/nothing-here", staffToken, ""); rec.Code != http.StatusNotFound {
		t.Errorf("unknown route with a token: %d", rec.Code)
	}
	if rec := request(e, http.MethodDelete, "/v1/orders", staffToken, ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /v1/orders with a token: %d", rec.Code)
	}
}

func TestMalformedAuthorizationIs401(t *testing.T) {
	e := allServed(t)
	for _, h := range []string{"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer not.a.jwt", "Bearer " + staffToken + "x",
		"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."} {
		req := httptest.NewRequest(http.MethodGet, "/v1/orders", nil)
		req.Header.Set(echo.HeaderAuthorization, h)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		wantAuthProblem(t, rec, http.StatusUnauthorized, fmt.Sprintf("Authorization: %.30q", h))
	}
}

// A customer's token reads only its own orders and account, over the real read models:
// by id, and by search, where the server applies the filter whatever the client asks.
func TestCustomerTokenSeesOnlyItsOwnData(t *testing.T) {
	shop := projectionstest.NewShop(21)
	shop.Random(4, 4, 20)
	kettle := shop.Product("KT-9", "Copper Kettle", 4500, 10)
	ada := shop.Customer("Ada Byron", "ada@analytical.example", 100_000)
	eve := shop.Customer("Eve Mallory", "eve@example.com", 100_000)
	adas := []string{shop.Place(ada, order.Line{ProductID: kettle, Quantity: 1}), shop.Place(ada, order.Line{ProductID: kettle, Quantity: 2})}
	eves := shop.Place(eve, order.Line{ProductID: kettle, Quantity: 1})
	_, srv := liveReadAPI(t, shop)
	asAda := customerToken(ada)

	get := func(target string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+target, nil)
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+asAda)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var raw json.RawMessage
		_ = json.NewDecoder(res.Body).Decode(&raw)
		return res.StatusCode, raw
	}
	if code, _ := get("/v1/orders/" + adas[0]); code != http.StatusOK {
		t.Errorf("own order: %d", code)
	}
	if code, body := get("/v1/orders/" + eves); code != http.StatusNotFound {
		t.Errorf("another customer's order: %d %s", code, body)
	}
	if code, body := get("/v1/orders/" + eves + "?min_version=1&wait=100ms"); code != http.StatusNotFound {
		t.Errorf("another customer's order, waiting: %d %s", code, body)
	}
	if code, _ := get("/v1/customers/" + ada); code != http.StatusOK {
		t.Errorf("own account: %d", code)
	}
	if code, body := get("/v1/customers/" + eve); code != http.StatusNotFound {
		t.Errorf("another customer's account: %d %s", code, body)
	}
	if code, _ := get("/v1/products/" + kettle); code != http.StatusOK {
		t.Errorf("a product: %d", code)
	}
	for _, q := range []string{"", "?q=kettle", "?q=" + url.QueryEscape("Eve Mallory"), "?q=eve%40example.com", "?status=pending,confirmed,rejected,cancelled&size=100"} {
		code, body := get("/v1/orders" + q)
		var page projections.Page[projections.Order]
		if err := json.Unmarshal(body, &page); code != http.StatusOK || err != nil {
			t.Fatalf("search %q: %d %s", q, code, body)
		}
		for _, o := range page.Items {
			if o.CustomerID != ada {
				t.Errorf("search %q found order %s of customer %s", q, o.ID, o.CustomerID)
			}
		}
		if q == "?q=kettle" && len(page.Items) != len(adas) {
			t.Errorf("search %q: %d orders, want Ada's %d", q, len(page.Items), len(adas))
		}
	}
	if code, body := get("/v1/orders?customer_id=" + eve); code != http.StatusForbidden || !strings.Contains(string(body), "other_customer") {
		t.Errorf("search naming another customer: %d %s", code, body)
	}
	var all projections.Page[projections.Order]
	getJSON(t, srv, "/v1/orders?q=kettle&size=100", &all) // staff see every customer's orders
	if !slices.ContainsFunc(all.Items, func(o projections.Order) bool { return o.ID == eves }) {
		t.Errorf("staff search for kettle: %d orders, none of them Eve's", len(all.Items))
	}
}

// A customer's token places and cancels only its own orders, on the real orders database.
func TestCustomerTokenTouchesOnlyItsOwnOrders(t *testing.T) {
	w := newWriteAPI(t)
	ada, eve := uuid.NewString(), uuid.NewString()
	line := `"lines":[{"product_id":"` + uuid.NewString() + `","quantity":1}]`
	asAda, asEve := customerToken(ada), customerToken(eve)
	rec := w.post("/v1/orders", `{"customer_id":"`+eve+`",`+line+`}`, echo.HeaderAuthorization, "Bearer "+asAda)
	if p := wantProblem(t, rec, http.StatusForbidden, "customer_id"); p.Code != "other_customer" {
		t.Errorf("order for another customer: code %q", p.Code)
	}
	before := w.ordersDB.countEvents(t)
	adas := wantResult(t, w.post("/v1/orders", `{"customer_id":"`+ada+`",`+line+`}`, echo.HeaderAuthorization, "Bearer "+asAda), http.StatusAccepted).ID
	wantProblem(t, w.post("/v1/orders/"+adas+"/cancel", "", echo.HeaderAuthorization, "Bearer "+asEve), http.StatusNotFound)
	if n := w.ordersDB.countEvents(t); n != before+1 {
		t.Fatalf("%d events after a refused cancel, want %d", n, before+1)
	}
	events := w.ordersDB.events(t, "order-"+adas)
	if len(events) != 1 || events[0].Type != order.TypeOrderPlaced {
		t.Fatalf("Ada's order after Eve's cancel: %+v", events)
	}
	if p := events[0].Metadata.Principal; p == nil || p.Subject != ada || p.ClientID != auth.LocalClientID {
		t.Errorf("Ada's order records principal %+v, want her token's subject and client", p)
	}
	wantResult(t, w.post("/v1/orders/"+adas+"/cancel", "", echo.HeaderAuthorization, "Bearer "+asAda), http.StatusAccepted)
	if events = w.ordersDB.events(t, "order-"+adas); len(events) != 2 || events[1].Type != order.TypeOrderCancelled {
		t.Fatalf("Ada's order after her cancel: %+v", events)
	}
	// Staff with the orders scope cancel anyone's order.
	other := wantResult(t, w.post("/v1/orders", `{"customer_id":"`+eve+`",`+line+`}`), http.StatusAccepted).ID
	wantResult(t, w.post("/v1/orders/"+other+"/cancel", ""), http.StatusAccepted)
	// A customer token naming no customer is refused.
	noID := tokenFor(auth.TokenSpec{Subject: "someone", Scopes: []string{auth.ScopeCustomer}})
	wantProblem(t, w.post("/v1/orders", `{"customer_id":"`+ada+`",`+line+`}`, echo.HeaderAuthorization, "Bearer "+noID), http.StatusForbidden)
}
