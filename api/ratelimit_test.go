package api_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/health"
)

func limitedServer(limits api.RateLimits) (*echo.Echo, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	e := api.New(withAuth(api.Options{Log: slog.New(slog.DiscardHandler), Health: health.NewChecker(time.Second),
		Registry: reg, RateLimits: limits}))
	api.RegisterReadRoutes(e, &fakeReads{})
	return e, reg
}

// Past its burst a principal gets 429 problems with Retry-After; others are not affected,
// and customer tokens have a limit of their own.
func TestRateLimitsArePerPrincipal(t *testing.T) {
	e, reg := limitedServer(api.RateLimits{PerSecond: 0.01, Burst: 3, CustomerPerSecond: 0.01, CustomerBurst: 1})
	alice := tokenFor(auth.TokenSpec{Subject: "alice", Scopes: []string{auth.ScopeRead}})
	bob := tokenFor(auth.TokenSpec{Subject: "bob", Scopes: []string{auth.ScopeRead}})
	aliceOtherClient := tokenFor(auth.TokenSpec{Subject: "alice", ClientID: "other-app", Scopes: []string{auth.ScopeRead}})
	for i := range 3 {
		if rec := request(e, http.MethodGet, "/v1/products", alice, ""); rec.Code != http.StatusOK {
			t.Fatalf("alice's request %d within the burst: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := request(e, http.MethodGet, "/v1/products", alice, "")
	p := wantProblem(t, rec, http.StatusTooManyRequests)
	if p.Code != "rate_limited" {
		t.Errorf("code = %q", p.Code)
	}
	// 0.01 tokens a second: the next one is 100 s away.
	if secs, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || secs < 90 || secs > 100 {
		t.Errorf("Retry-After = %q, want about 100", rec.Header().Get("Retry-After"))
	}
	for name, tok := range map[string]string{"bob": bob, "alice through another client": aliceOtherClient} {
		if rec := request(e, http.MethodGet, "/v1/products", tok, ""); rec.Code != http.StatusOK {
			t.Errorf("%s after alice's limit: %d", name, rec.Code)
		}
	}
	customer := customerToken("0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b71")
	if rec := request(e, http.MethodGet, "/v1/products", customer, ""); rec.Code != http.StatusOK {
		t.Fatalf("customer's first request: %d", rec.Code)
	}
	wantProblem(t, request(e, http.MethodGet, "/v1/products", customer, ""), http.StatusTooManyRequests)
	if rec := request(e, http.MethodGet, "/healthz", "", ""); rec.Code != http.StatusOK {
		t.Errorf("public route: %d", rec.Code)
	}
	if n := counter(t, reg, "shopflow_rate_limited_total", "customer"); n != 1 {
		t.Errorf("customer rejections counted: %v", n)
	}
	if n := counter(t, reg, "shopflow_rate_limited_total", "service"); n != 1 {
		t.Errorf("service rejections counted: %v", n)
	}
}

// Without a verifier every protected route is refused; switched off, every route is served
// to the anonymous principal.
func TestAuthenticationOffOnlyWhenSaidSo(t *testing.T) {
	e := api.New(api.Options{Log: slog.New(slog.DiscardHandler), Health: health.NewChecker(time.Second), Registry: prometheus.NewRegistry()})
	api.RegisterReadRoutes(e, &fakeReads{})
	wantAuthProblem(t, request(e, http.MethodGet, "/v1/products", staffToken, ""), http.StatusUnauthorized, "no verifier")
	off := api.New(api.Options{Log: slog.New(slog.DiscardHandler), Health: health.NewChecker(time.Second), Registry: prometheus.NewRegistry(),
		AuthDisabled: true})
	api.RegisterReadRoutes(off, &fakeReads{})
	off.GET("/v1/admin-thing", func(c echo.Context) error {
		p, _ := auth.FromContext(c.Request().Context())
		return c.String(http.StatusOK, p.Subject)
	})
	if rec := request(off, http.MethodGet, "/v1/products", "", ""); rec.Code != http.StatusOK {
		t.Errorf("auth off, read: %d", rec.Code)
	}
	if rec := request(off, http.MethodGet, "/v1/admin-thing", "", ""); rec.Code != http.StatusOK || rec.Body.String() != api.AnonymousSubject {
		t.Errorf("auth off, admin route: %d %q", rec.Code, rec.Body)
	}
}

// unreachable is an issuer whose keys cannot be fetched.
type unreachable struct{}

func (unreachable) Verify(context.Context, string) (auth.Principal, error) {
	return auth.Principal{}, errors.New("fetch the issuer's key set: connection refused")
}

// A token that cannot be checked because the issuer is unreachable is 503 with
// Retry-After, not 401: the client did nothing wrong.
func TestUnreachableIssuerIs503(t *testing.T) {
	e := api.New(api.Options{Log: slog.New(slog.DiscardHandler), Health: health.NewChecker(time.Second), Registry: prometheus.NewRegistry(),
		Auth: unreachable{}})
	api.RegisterReadRoutes(e, &fakeReads{})
	rec := request(e, http.MethodGet, "/v1/products", staffToken, "")
	wantProblem(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}
