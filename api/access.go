package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shopflow/shopflow/internal/auth"
)

// Access says who may call a route.
type Access struct {
	// Public routes need no token (health, metrics, the OpenAPI document).
	Public bool
	// Scopes: a token holding any one of them may call the route on any data.
	Scopes []string
	// Customer: a token holding auth.ScopeCustomer (and none of Scopes) may call the route
	// too, limited by its handler to the token's own customer (see CustomerOf).
	Customer bool
}

// Routes is the one table of who may call what, keyed by "METHOD path" as echo registers
// the path. A route the server serves that is not in it requires AdminAccess: the
// operator console and its admin API (streams, dead letters, rebuilds) need no entry of
// their own, and a route someone forgets to list is closed, not open. The OpenAPI
// document declares the same scopes per operation (TestEveryRouteRefusesWithoutAToken
// checks both agree).
var Routes = map[string]Access{
	"GET /healthz":      {Public: true},
	"GET /readyz":       {Public: true},
	"GET /metrics":      {Public: true},
	"GET /openapi.yaml": {Public: true},
	// The event catalog (docs/events): what is on the topics, public like the API's document.
	"GET /asyncapi.yaml": {Public: true},
	// The console's sign-in page, where a browser hands over its token (ConsoleTokenCookie).
	"GET " + ConsoleLoginPath:   {Public: true},
	"POST " + ConsoleLoginPath:  {Public: true},
	"POST " + ConsoleLogoutPath: {Public: true},

	"POST /v1/products":               {Scopes: []string{auth.ScopeCatalog}},
	"POST /v1/products/:id/restock":   {Scopes: []string{auth.ScopeCatalog}},
	"POST /v1/customers":              {Scopes: []string{auth.ScopePayments}},
	"POST /v1/customers/:id/deposits": {Scopes: []string{auth.ScopePayments}},
	"POST /v1/customers/:id/forget":   {Scopes: []string{auth.ScopeAdmin}, Customer: true},
	"POST /v1/orders":                 {Scopes: []string{auth.ScopeOrders}, Customer: true},
	"POST /v1/orders/:id/cancel":      {Scopes: []string{auth.ScopeOrders}, Customer: true},

	"GET /v1/orders/:id":    {Scopes: []string{auth.ScopeRead}, Customer: true},
	"GET /v1/orders":        {Scopes: []string{auth.ScopeRead}, Customer: true},
	"GET /v1/products/:id":  {Scopes: []string{auth.ScopeRead}, Customer: true},
	"GET /v1/products":      {Scopes: []string{auth.ScopeRead}, Customer: true},
	"GET /v1/customers/:id": {Scopes: []string{auth.ScopeRead}, Customer: true},
}

// AdminAccess is the access of every served route missing from Routes.
var AdminAccess = Access{Scopes: []string{auth.ScopeAdmin}}

// authenticatedAccess is the access of a request no route matches (404, 405): a valid
// token, so that what the API serves cannot be probed anonymously.
var authenticatedAccess = Access{}

// accessOf returns the access of the route a request matched.
func accessOf(c echo.Context) Access {
	path := c.Path()
	if a, ok := Routes[c.Request().Method+" "+path]; ok {
		return a
	}
	if path == "" {
		return authenticatedAccess
	}
	for key := range Routes {
		if strings.HasSuffix(key, " "+path) { // another method of a listed route: 405
			return authenticatedAccess
		}
	}
	return AdminAccess
}

// Authenticator verifies a bearer token; *auth.Verifier implements it. Errors wrapping
// auth.ErrInvalidToken are the token's fault (401); others mean the issuer's keys could
// not be had (503).
type Authenticator interface {
	Verify(ctx context.Context, token string) (auth.Principal, error)
}

// AnonymousSubject is the principal's subject of every request when authentication is
// switched off.
const AnonymousSubject = "anonymous"

// customerKey is the context key of the customer a request is limited to.
type customerKey struct{}

// CustomerOf returns the customer id a request is limited to: set when the route was
// granted through auth.ScopeCustomer only. Handlers of routes with Access.Customer must
// limit what they read and change to it.
func CustomerOf(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(customerKey{}).(string)
	return id, ok
}

// guard is the middleware that authenticates every request but the public ones, limits
// each principal's rate, and authorizes the request by Routes.
type guard struct {
	verifier Authenticator
	disabled bool
	limits   *rateLimiter
}

func (g *guard) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		access := accessOf(c)
		if access.Public {
			return next(c)
		}
		p, err := g.authenticate(c)
		if err != nil {
			return toConsoleLogin(c, err)
		}
		if err := g.limits.allow(p, g.rateKey(c, p)); err != nil {
			return err
		}
		ctx := auth.WithPrincipal(c.Request().Context(), p)
		ctx, err = authorize(ctx, access, p)
		if err != nil {
			return toConsoleLogin(c, err)
		}
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// authenticate returns the request's principal from its bearer token.
func (g *guard) authenticate(c echo.Context) (auth.Principal, error) {
	if g.disabled {
		return auth.Principal{Subject: AnonymousSubject, Scopes: slices.DeleteFunc(slices.Clone(auth.Scopes),
			func(s string) bool { return s == auth.ScopeCustomer })}, nil
	}
	token, err := requestToken(c)
	if err != nil {
		return auth.Principal{}, err
	}
	if g.verifier == nil {
		return auth.Principal{}, unauthorized("this server has no token issuer configured", "invalid_token")
	}
	p, err := g.verifier.Verify(c.Request().Context(), token)
	switch {
	case errors.Is(err, auth.ErrInvalidToken):
		return p, unauthorized(err.Error(), "invalid_token")
	case err != nil:
		pr := NewProblem(http.StatusServiceUnavailable, "the token issuer's keys are unavailable, retry later")
		pr.RetryAfter = RetryAfterUnavailable
		return p, errors.Join(pr, err)
	}
	return p, nil
}

// rateKey is whom a request's rate counts for: its principal, or with authentication off
// its client address.
func (g *guard) rateKey(c echo.Context, p auth.Principal) string {
	if g.disabled {
		return "ip:" + c.RealIP()
	}
	return p.Key()
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header.
func bearerToken(h http.Header) (string, error) {
	values := h.Values(echo.HeaderAuthorization)
	if len(values) == 0 {
		return "", unauthorized("this route needs a bearer token: Authorization: Bearer <token>", "")
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	token = strings.TrimSpace(token)
	if len(values) > 1 || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", unauthorized("the Authorization header must be given once, as Bearer <token>", "invalid_request")
	}
	return token, nil
}

// unauthorized is the 401 problem, with its WWW-Authenticate challenge (RFC 6750).
func unauthorized(detail, code string) *Problem {
	p := NewProblem(http.StatusUnauthorized, detail)
	p.challenge = `Bearer realm="shopflow"`
	if code != "" {
		p.challenge += `, error="` + code + `"`
		p.Code = code
	}
	return p
}

// authorize grants the request if its principal holds one of the route's scopes, or the
// customer scope on a customer route (then ctx limits it to the principal's customer).
func authorize(ctx context.Context, access Access, p auth.Principal) (context.Context, error) {
	if len(access.Scopes) == 0 || slices.ContainsFunc(access.Scopes, p.Has) {
		return ctx, nil
	}
	if access.Customer && p.Has(auth.ScopeCustomer) {
		if p.CustomerID == "" {
			return ctx, forbidden("this customer token names no customer", access)
		}
		return context.WithValue(ctx, customerKey{}, p.CustomerID), nil
	}
	return ctx, forbidden("this route needs one of the scopes "+strings.Join(scopesOf(access), ", "), access)
}

// scopesOf lists the scopes that grant a route.
func scopesOf(access Access) []string {
	if access.Customer {
		return append(slices.Clone(access.Scopes), auth.ScopeCustomer)
	}
	return access.Scopes
}

// forbidden is the 403 problem for a principal without the scope a route needs.
func forbidden(detail string, access Access) *Problem {
	p := NewProblem(http.StatusForbidden, detail)
	p.Code = "insufficient_scope"
	p.challenge = `Bearer realm="shopflow", error="insufficient_scope", scope="` + strings.Join(scopesOf(access), " ") + `"`
	return p
}

// notYours is the 403 problem of a customer token naming another customer's id in a
// request; field is where.
func notYours(field string) *Problem {
	p := NewProblem(http.StatusForbidden, "a customer token acts only for its own customer",
		FieldError{Field: field, Reason: "is not the token's customer"})
	p.Code = "other_customer"
	return p
}
