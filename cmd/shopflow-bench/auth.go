package main

import (
	"context"
	"net/http"
	"time"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/internal/auth"
)

// The benchmarks' API servers authenticate as in production: every request carries a
// token of benchSigner, verified by benchVerifier (an ES256 signature check per request is
// part of what the API figures measure).
var (
	benchSigner   = must(auth.NewSigner())
	benchVerifier = must(benchSigner.Verifier(context.Background(), auth.Config{Issuer: auth.LocalIssuer, Audience: auth.DefaultAudience}))
	benchToken    = must(benchSigner.Mint(auth.TokenSpec{Subject: "shopflow-bench", TTL: 24 * time.Hour,
		Scopes: []string{auth.ScopeCatalog, auth.ScopePayments, auth.ScopeOrders, auth.ScopeRead}}))
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// benchAPI returns opts with the benchmarks' authentication. Per-principal rate limits are
// off: every benchmark client is one principal driving the API as fast as it goes, which
// is what the throughput figures measure, not what a rate limit is for.
func benchAPI(opts api.Options) api.Options {
	opts.Auth = benchVerifier
	opts.RateLimits = api.RateLimits{PerSecond: -1, CustomerPerSecond: -1}
	return opts
}

// withToken returns a transport that sends benchToken with every request over next.
func withToken(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return bearer{next: next}
}

type bearer struct{ next http.RoundTripper }

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+benchToken)
	return b.next.RoundTrip(req)
}
