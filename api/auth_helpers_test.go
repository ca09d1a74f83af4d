package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/internal/auth"
)

// The API's tests authenticate like any client: testSigner is their issuer, testVerifier
// trusts it, and every request they send carries a token (staffToken unless they say).
var (
	testSigner   = mustValue(auth.NewSigner())
	testVerifier = mustValue(testSigner.Verifier(context.Background(), auth.Config{Issuer: auth.LocalIssuer, Audience: auth.DefaultAudience}))
	// staffScopes are every scope but admin and customer: what the write and read tests need.
	staffScopes = []string{auth.ScopeCatalog, auth.ScopePayments, auth.ScopeOrders, auth.ScopeRead}
	staffToken  = tokenFor(auth.TokenSpec{Subject: "staff-test", Scopes: staffScopes})
)

func mustValue[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// tokenFor mints a token of spec with the test issuer.
func tokenFor(spec auth.TokenSpec) string { return mustValue(testSigner.Mint(spec)) }

// customerToken is a customer's token for customer id.
func customerToken(id string) string {
	return tokenFor(auth.TokenSpec{Scopes: []string{auth.ScopeCustomer}, CustomerID: id})
}

// withAuth returns opts authenticating with the test issuer.
func withAuth(opts api.Options) api.Options {
	opts.Auth = testVerifier
	return opts
}

// serve sends req to e, with staffToken unless req carries an Authorization header.
func serve(e *echo.Echo, rec *httptest.ResponseRecorder, req *http.Request) {
	if req.Header.Get(echo.HeaderAuthorization) == "" {
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+staffToken)
	}
	e.ServeHTTP(rec, req)
}

// bearer adds a token to every request of a client that has none.
type bearer struct {
	base  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get(echo.HeaderAuthorization) == "" {
		req = req.Clone(req.Context())
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+b.token)
	}
	return b.base.RoundTrip(req)
}

// authenticatedServer serves e on an httptest server whose client sends staffToken.
func authenticatedServer(t testing.TB, e http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	cl := srv.Client()
	cl.Transport = bearer{base: cl.Transport, token: staffToken}
	return srv
}
