package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// ErrInvalidToken is wrapped by every error of Verify about the token itself (as opposed
// to the issuer's key set being unreachable): malformed, badly signed, expired, for another
// issuer or audience.
var ErrInvalidToken = errors.New("auth: invalid token")

// Verifier verifies bearer tokens of one issuer for one audience. It is safe for
// concurrent use.
type Verifier struct {
	cfg   Config
	algs  []jwa.SignatureAlgorithm
	keys  *keySet
	now   func() time.Time
	cache *tokenCache
}

// NewVerifier returns the verifier of cfg, having fetched the issuer's key set once (after
// its discovery document unless cfg names the set): it fails if cfg is invalid or the key
// set cannot be had, so that a process with a wrong issuer does not start.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	fetch := fileKeys(cfg.JWKSFile)
	if cfg.JWKSFile == "" {
		u := cfg.JWKSURL
		if u == "" {
			if u, err = discover(ctx, cfg.HTTPClient, cfg.Issuer); err != nil {
				return nil, err
			}
		}
		fetch = urlKeys(cfg.HTTPClient, u)
	}
	return newVerifier(ctx, cfg, fetch, time.Now)
}

// newVerifier builds a verifier over a key fetcher.
func newVerifier(ctx context.Context, cfg Config, fetch func(context.Context) (jwk.Set, error), now func() time.Time) (*Verifier, error) {
	v := &Verifier{cfg: cfg, keys: &keySet{fetch: fetch, refresh: cfg.RefreshInterval, minRefresh: cfg.MinRefresh, now: now},
		now: now, cache: &tokenCache{ttl: cfg.CacheTTL}}
	for _, a := range cfg.Algorithms {
		alg, _ := jwa.LookupSignatureAlgorithm(a)
		v.algs = append(v.algs, alg)
	}
	if err := v.keys.load(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// Verify checks a bearer token (see the package documentation) and returns its principal.
// A token verified within Config.CacheTTL, and not expired since, is not checked again.
// Errors wrap ErrInvalidToken, except those of fetching the key set.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	now := v.now()
	if p, ok := v.cache.get(raw, now); ok {
		return p, nil
	}
	p, expires, err := v.verify(ctx, raw)
	if err == nil {
		v.cache.put(raw, p, now, expires.Add(v.cfg.ClockSkew))
	}
	return p, err
}

// verify checks a token's signature and claims; it returns its principal and expiry.
func (v *Verifier) verify(ctx context.Context, raw string) (Principal, time.Time, error) {
	var fetchErr error
	provider := jws.KeyProviderFunc(func(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
		err := v.provideKey(ctx, sink, sig)
		if err != nil && !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrInvalidToken) {
			fetchErr = err
		}
		return err
	})
	tok, err := jwt.ParseString(raw, jwt.WithKeyProvider(provider), jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Audience), jwt.WithAcceptableSkew(v.cfg.ClockSkew), jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithRequiredClaim("exp"), jwt.WithRequiredClaim("sub"))
	if fetchErr != nil {
		return Principal{}, time.Time{}, fetchErr
	}
	if err != nil {
		return Principal{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	exp, _ := tok.Expiration()
	p, err := v.principal(tok)
	return p, exp, err
}

// provideKey gives the key a signature names, after checking that its algorithm is one of
// the accepted ones and one the key is for.
func (v *Verifier) provideKey(ctx context.Context, sink jws.KeySink, sig *jws.Signature) error {
	h := sig.ProtectedHeaders()
	alg, ok := h.Algorithm()
	if !ok || !slices.Contains(v.algs, alg) {
		return fmt.Errorf("%w: signature algorithm %q is not accepted (accepted: %s)", ErrInvalidToken, alg, strings.Join(v.cfg.Algorithms, ", "))
	}
	kid, _ := h.KeyID()
	key, err := v.keys.key(ctx, kid)
	if err != nil {
		return err
	}
	if keyAlg, ok := key.Algorithm(); ok && keyAlg.String() != alg.String() {
		return fmt.Errorf("%w: key %q is for %s, the token says %s", ErrInvalidToken, kid, keyAlg, alg)
	}
	if use, ok := key.KeyUsage(); ok && use != "" && use != jwk.ForSignature.String() {
		return fmt.Errorf("%w: key %q is not a signing key (use %q)", ErrInvalidToken, kid, use)
	}
	sink.Key(alg, key)
	return nil
}

// principal reads the claims Shopflow uses.
func (v *Verifier) principal(tok jwt.Token) (Principal, error) {
	sub, _ := tok.Subject()
	p := Principal{Subject: sub}
	if p.Subject == "" {
		return p, fmt.Errorf("%w: sub is empty", ErrInvalidToken)
	}
	for _, name := range []string{"scope", "scp", "roles"} {
		p.Scopes = appendUnique(p.Scopes, stringsClaim(tok, name)...)
	}
	for _, name := range []string{"client_id", "azp", "appid"} {
		if p.ClientID = stringClaim(tok, name); p.ClientID != "" {
			break
		}
	}
	if p.Has(ScopeCustomer) {
		p.CustomerID = stringClaim(tok, v.cfg.CustomerClaim)
		if v.cfg.CustomerClaim == SubjectClaim {
			p.CustomerID = p.Subject
		}
	}
	return p, nil
}

// stringClaim returns a string claim, "" if absent or not a string.
func stringClaim(tok jwt.Token, name string) string {
	var s string
	if tok.Get(name, &s) != nil {
		return ""
	}
	return s
}

// stringsClaim returns a claim that is a space-separated string or an array of strings.
func stringsClaim(tok jwt.Token, name string) []string {
	var raw any
	if tok.Get(name, &raw) != nil {
		return nil
	}
	switch c := raw.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		var out []string
		for _, e := range c {
			if s, ok := e.(string); ok {
				out = append(out, strings.Fields(s)...)
			}
		}
		return out
	case []string:
		return c
	}
	return nil
}

func appendUnique(list []string, items ...string) []string {
	for _, s := range items {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}
