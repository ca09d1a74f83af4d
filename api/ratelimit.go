package api

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/shopflow/shopflow/internal/auth"
)

// Defaults of RateLimits. A customer token is a person's app: a page makes a few calls,
// so 20 a second with bursts of 40 is generous for a person and stops a script. Other
// principals are services (back office, integrations, load tests): 500 a second each,
// bursts of 1000, keeps one of them from taking the whole write API (which runs
// DefaultMaxCommandsInFlight commands at once, a few thousand a second) from the others.
const (
	DefaultRatePerSecond         = 500
	DefaultRateBurst             = 1000
	DefaultCustomerRatePerSecond = 20
	DefaultCustomerRateBurst     = 40
)

// RateLimits bound the requests each principal (subject and client id) makes: a token
// bucket per principal, refilled at PerSecond up to Burst. Past it the answer is 429 with
// Retry-After. The zero value takes the defaults; a negative PerSecond turns the limit
// off for that kind of principal.
type RateLimits struct {
	// PerSecond and Burst apply to principals without auth.ScopeCustomer.
	PerSecond float64
	Burst     int
	// CustomerPerSecond and CustomerBurst apply to customer tokens.
	CustomerPerSecond float64
	CustomerBurst     int
}

// withDefaults fills the zero settings (and takes a burst below 1 as the default).
func (r RateLimits) withDefaults() RateLimits {
	if r.PerSecond == 0 {
		r.PerSecond = DefaultRatePerSecond
	}
	if r.Burst < 1 {
		r.Burst = DefaultRateBurst
	}
	if r.CustomerPerSecond == 0 {
		r.CustomerPerSecond = DefaultCustomerRatePerSecond
	}
	if r.CustomerBurst < 1 {
		r.CustomerBurst = DefaultCustomerRateBurst
	}
	return r
}

// rateLimiter keeps a token bucket per principal. A bucket that has filled up again is
// dropped (a new one is full, so nothing changes), which bounds the map to the principals
// active within the last Burst/PerSecond seconds. It is safe for concurrent use.
type rateLimiter struct {
	cfg     RateLimits
	limited *prometheus.CounterVec
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
}

// newRateLimiter returns the limiter of cfg, registering shopflow_rate_limited_total{kind=
// "customer"|"service"} on reg (if not nil); it panics if that metric is registered already.
func newRateLimiter(cfg RateLimits, reg prometheus.Registerer) *rateLimiter {
	l := &rateLimiter{cfg: cfg.withDefaults(), now: time.Now, buckets: map[string]*rate.Limiter{},
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopflow_rate_limited_total",
			Help: "Requests answered 429 because their principal exceeded its rate, by kind of principal.",
		}, []string{"kind"})}
	if reg != nil {
		reg.MustRegister(l.limited)
	}
	return l
}

// allow takes a token from the bucket of key, or returns the 429 problem with the time
// until the next token as Retry-After.
func (l *rateLimiter) allow(p auth.Principal, key string) error {
	perSecond, burst, kind := l.cfg.PerSecond, l.cfg.Burst, "service"
	if p.Has(auth.ScopeCustomer) {
		perSecond, burst, kind = l.cfg.CustomerPerSecond, l.cfg.CustomerBurst, "customer"
	}
	if perSecond < 0 {
		return nil
	}
	now := l.now()
	r := l.bucket(key+"\x00"+kind, perSecond, burst, now).ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if r.OK() && delay == 0 {
		return nil
	}
	r.CancelAt(now)
	l.limited.WithLabelValues(kind).Inc()
	pr := NewProblem(http.StatusTooManyRequests, fmt.Sprintf("this principal exceeded its rate of %g requests a second (bursts of %d); retry later", perSecond, burst))
	pr.Code = "rate_limited"
	pr.RetryAfter = max(delay, time.Second)
	return pr
}

// bucket returns the bucket of key, made if missing; now and then it drops full buckets.
func (l *rateLimiter) bucket(key string, perSecond float64, burst int, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(b.Burst()) {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Limit(perSecond), burst)
		l.buckets[key] = b
	}
	return b
}
