package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// DefaultCacheTTL is how long a verified token is remembered (see Config.CacheTTL).
const DefaultCacheTTL = time.Minute

// maxCachedTokens bounds the verified tokens remembered.
const maxCachedTokens = 10_000

// tokenCache remembers verified tokens by their SHA-256, each until its expiry (plus the
// clock skew) or the cache's TTL, whichever comes first: a client sends the same token with
// every request until it expires, and checking its signature again each time is most of
// what authentication costs (an ES256 verification is some 100 µs of CPU). A key retired
// from the issuer's set stops being trusted for a token remembered already at most a TTL
// later. It is safe for concurrent use.
type tokenCache struct {
	ttl time.Duration // not positive: nothing is remembered

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	p     Principal
	until time.Time
}

// get returns the principal of a remembered token that is still valid at now.
func (c *tokenCache) get(raw string, now time.Time) (Principal, bool) {
	if c.ttl <= 0 {
		return Principal{}, false
	}
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.until) {
		return Principal{}, false
	}
	return e.p, true
}

// put remembers a verified token until expires or now + ttl. When full it drops the
// entries no longer valid, and everything if that is not enough.
func (c *tokenCache) put(raw string, p Principal, now, expires time.Time) {
	if c.ttl <= 0 {
		return
	}
	until := now.Add(c.ttl)
	if expires.Before(until) {
		until = expires
	}
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[[sha256.Size]byte]cachedToken{}
	}
	if len(c.entries) >= maxCachedTokens {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedTokens {
			clear(c.entries)
		}
	}
	c.entries[key] = cachedToken{p: p, until: until}
}
