package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

func testConfig() Config {
	return Config{Issuer: LocalIssuer, Audience: DefaultAudience}
}

func newSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifierOf(t testing.TB, s *Signer, cfg Config) *Verifier {
	t.Helper()
	v, err := s.Verifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mint(t testing.TB, s *Signer, spec TokenSpec) string {
	t.Helper()
	tok, err := s.Mint(spec)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func wantInvalid(t testing.TB, v *Verifier, token, why string) {
	t.Helper()
	p, err := v.Verify(context.Background(), token)
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("%s: Verify = %+v, %v; want ErrInvalidToken", why, p, err)
	}
}

func TestVerifyReadsTheClaims(t *testing.T) {
	s := newSigner(t)
	v := verifierOf(t, s, testConfig())
	p, err := v.Verify(context.Background(), mint(t, s, TokenSpec{Scopes: []string{ScopeCustomer, "openid"}, CustomerID: "c-1", ClientID: "app"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Principal{Subject: "c-1", ClientID: "app", Scopes: []string{ScopeCustomer, "openid"}, CustomerID: "c-1"}
	if p.Subject != want.Subject || p.ClientID != want.ClientID || !slices.Equal(p.Scopes, want.Scopes) || p.CustomerID != want.CustomerID {
		t.Fatalf("principal = %+v, want %+v", p, want)
	}
	// Without the customer scope, a customer_id claim means nothing.
	p, err = v.Verify(context.Background(), mint(t, s, TokenSpec{Scopes: []string{ScopeRead}, CustomerID: "c-1"}))
	if err != nil || p.CustomerID != "" {
		t.Fatalf("read token with customer_id: %+v, %v", p, err)
	}
}

// signRaw signs claims with headers of its own choosing, as an attacker or an odd issuer
// would.
func signRaw(t testing.TB, alg jwa.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	if kid != "" {
		_ = hdr.Set(jws.KeyIDKey, kid)
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func claims(overrides map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": LocalIssuer, "aud": DefaultAudience, "sub": "s", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "scope": "read"}
	for k, v := range overrides {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func b64(v any) string {
	raw, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestVerifyRefusesUnsignedAndUnexpectedAlgorithms(t *testing.T) {
	s := newSigner(t)
	v := verifierOf(t, s, testConfig())
	kid, _ := s.key.KeyID()
	body := b64(claims(nil))
	wantInvalid(t, v, b64(map[string]string{"alg": "none", "typ": "JWT"})+"."+body+".", "alg none")
	wantInvalid(t, v, b64(map[string]string{"alg": "none", "kid": kid})+"."+body+".", "alg none with the key's kid")
	// Algorithm confusion: HS256 keyed with the public key's bytes.
	pub, err := s.PublicSet()
	if err != nil {
		t.Fatal(err)
	}
	pubJSON, _ := json.Marshal(pub)
	head := b64(map[string]string{"alg": "HS256", "kid": kid}) + "." + body
	mac := hmac.New(sha256.New, pubJSON)
	mac.Write([]byte(head))
	wantInvalid(t, v, head+"."+base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), "HS256 keyed with the public key")
	// A real signature with an algorithm not accepted: RS512 by an RSA key under the kid.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, v, signRaw(t, jwa.RS512(), rsaKey, kid, claims(nil)), "RS512")
	// An accepted algorithm the key is not for: RS256 under the ES256 key's kid.
	wantInvalid(t, v, signRaw(t, jwa.RS256(), rsaKey, kid, claims(nil)), "RS256 under an ES256 key")
	// Signed by another ES256 key under the trusted kid.
	other := newSigner(t)
	wantInvalid(t, v, signRaw(t, jwa.ES256(), other.key, kid, claims(nil)), "another key")
	if _, err := (Config{Issuer: "i", Audience: "a", Algorithms: []string{"HS256"}}).withDefaults(); err == nil {
		t.Fatal("Config with HS256 accepted")
	}
	if _, err := (Config{Issuer: "i", Audience: "a", Algorithms: []string{"none"}}).withDefaults(); err == nil {
		t.Fatal("Config with none accepted")
	}
}

func TestVerifyChecksIssuerAudienceAndTime(t *testing.T) {
	s := newSigner(t)
	kid, _ := s.key.KeyID()
	strict := verifierOf(t, s, testConfig())
	cfg := testConfig()
	cfg.ClockSkew = time.Minute
	lenient := verifierOf(t, s, cfg)
	past := time.Now().Add(-30 * time.Second).Unix()
	cases := map[string]map[string]any{
		"other issuer":   {"iss": "https://evil.example"},
		"other audience": {"aud": []string{"other"}},
		"no exp":         {"exp": nil},
		"no sub":         {"sub": nil},
		"long expired":   {"exp": time.Now().Add(-2 * time.Minute).Unix()},
		"not yet valid":  {"nbf": time.Now().Add(2 * time.Minute).Unix()},
	}
	for name, c := range cases {
		wantInvalid(t, lenient, signRaw(t, jwa.ES256(), s.key, kid, claims(c)), name)
	}
	justExpired := signRaw(t, jwa.ES256(), s.key, kid, claims(map[string]any{"exp": past}))
	wantInvalid(t, strict, justExpired, "expired 30 s ago without skew")
	if _, err := lenient.Verify(context.Background(), justExpired); err != nil {
		t.Fatalf("expired 30 s ago with a minute of skew: %v", err)
	}
	manyAud := signRaw(t, jwa.ES256(), s.key, kid, claims(map[string]any{"aud": []string{"account", DefaultAudience}}))
	if _, err := strict.Verify(context.Background(), manyAud); err != nil {
		t.Fatalf("audience among several: %v", err)
	}
}

// Entra ID puts delegated scopes in scp, application roles in roles and the client in azp
// (v2) or appid (v1); a customer claim may be the subject itself.
func TestVerifyReadsEntraStyleClaims(t *testing.T) {
	s := newSigner(t)
	kid, _ := s.key.KeyID()
	cfg := testConfig()
	cfg.CustomerClaim = SubjectClaim
	v := verifierOf(t, s, cfg)
	tok := signRaw(t, jwa.ES256(), s.key, kid, claims(map[string]any{"scope": nil, "scp": "customer read", "roles": []string{"admin"}, "azp": "web", "sub": "cust-9"}))
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Scopes, []string{"customer", "read", "admin"}) || p.ClientID != "web" || p.CustomerID != "cust-9" {
		t.Fatalf("principal = %+v", p)
	}
	tok = signRaw(t, jwa.ES256(), s.key, kid, claims(map[string]any{"appid": "v1-app"}))
	if p, err = v.Verify(context.Background(), tok); err != nil || p.ClientID != "v1-app" {
		t.Fatalf("appid: %+v, %v", p, err)
	}
}

// issuer serves a discovery document and a key set that a test can change.
type issuer struct {
	srv     *httptest.Server
	set     atomic.Pointer[jwk.Set]
	fetches atomic.Int32
	name    string
}

func newIssuer(t testing.TB, s *Signer) *issuer {
	t.Helper()
	is := &issuer{}
	is.serve(t, s)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.name, "jwks_uri": is.srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) {
		is.fetches.Add(1)
		_ = json.NewEncoder(w).Encode(*is.set.Load())
	})
	is.srv = httptest.NewServer(mux)
	is.name = is.srv.URL
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) serve(t testing.TB, signers ...*Signer) {
	t.Helper()
	set := jwk.NewSet()
	for _, s := range signers {
		pub, err := s.key.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		_ = set.AddKey(pub)
	}
	is.set.Store(&set)
}

func TestVerifierDiscoversAndRefreshesKeys(t *testing.T) {
	old, rotated := newSigner(t), newSigner(t)
	is := newIssuer(t, old)
	cfg := Config{Issuer: is.name, Audience: "api", MinRefresh: time.Hour}
	v, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec := TokenSpec{Issuer: is.name, Audience: "api", Scopes: []string{ScopeRead}}
	if _, err := v.Verify(context.Background(), mint(t, old, spec)); err != nil {
		t.Fatal(err)
	}
	// The issuer rotates to a new key: a token under its new kid makes the verifier fetch
	// the set again — once: minRefresh bounds fetches for unknown kids.
	is.serve(t, old, rotated)
	v.keys.minRefresh = 0
	if _, err := v.Verify(context.Background(), mint(t, rotated, spec)); err != nil {
		t.Fatalf("token of the rotated key: %v", err)
	}
	v.keys.minRefresh = time.Hour
	before := is.fetches.Load()
	for range 5 {
		if _, err := v.Verify(context.Background(), mint(t, newSigner(t), spec)); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("unknown key: %v", err)
		}
	}
	if n := is.fetches.Load() - before; n != 0 {
		t.Fatalf("%d fetches for unknown kids within minRefresh", n)
	}
}

func TestVerifierDropsARetiredKeyAfterTheRefreshInterval(t *testing.T) {
	old, rotated := newSigner(t), newSigner(t)
	is := newIssuer(t, old)
	now := time.Now()
	clock := func() time.Time { return now }
	cfg, err := Config{Issuer: is.name, Audience: "api", JWKSURL: is.srv.URL + "/keys"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	v, err := newVerifier(context.Background(), cfg, urlKeys(cfg.HTTPClient, cfg.JWKSURL), clock)
	if err != nil {
		t.Fatal(err)
	}
	is.serve(t, rotated)
	tok := mint(t, old, TokenSpec{Issuer: is.name, Audience: "api", Scopes: []string{ScopeRead}})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("before the refresh interval: %v", err)
	}
	now = now.Add(DefaultRefreshInterval + time.Second)
	v.keys.refreshInBackground() // what the stale lookup starts
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("retired key after the refresh: %v", err)
	}
}

func TestDiscoveryMustNameTheSameIssuer(t *testing.T) {
	is := newIssuer(t, newSigner(t))
	is.name = "https://someone-else.example"
	_, err := NewVerifier(context.Background(), Config{Issuer: is.srv.URL, Audience: "api"})
	if err == nil || !strings.Contains(err.Error(), "names issuer") {
		t.Fatalf("NewVerifier = %v", err)
	}
}

func TestInitLocalKeepsItsKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	created, err := InitLocal(dir)
	if err != nil || !created {
		t.Fatalf("InitLocal = %v, %v", created, err)
	}
	s, err := LoadSigner(filepath.Join(dir, SigningKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, s, TokenSpec{Scopes: []string{ScopeAdmin}})
	if created, err = InitLocal(dir); err != nil || created {
		t.Fatalf("second InitLocal = %v, %v", created, err)
	}
	cfg := testConfig()
	cfg.JWKSFile = filepath.Join(dir, JWKSFile)
	v, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(context.Background(), tok); err != nil || !p.Has(ScopeAdmin) {
		t.Fatalf("token minted before the second InitLocal: %+v, %v", p, err)
	}
	cfg.JWKSFile = filepath.Join(dir, SigningKeyFile)
	if _, err := NewVerifier(context.Background(), cfg); err == nil {
		t.Fatal("a key set holding a private key was accepted")
	}
}

// BenchmarkVerify is what authentication adds to each request: a token seen before
// (cached), and one verified afresh (one ES256 verification and the claims checks).
func BenchmarkVerify(b *testing.B) {
	for name, ttl := range map[string]time.Duration{"cached": 0, "uncached": -1} {
		b.Run(name, func(b *testing.B) {
			s := newSigner(b)
			cfg := testConfig()
			cfg.CacheTTL = ttl
			v := verifierOf(b, s, cfg)
			tok := mint(b, s, TokenSpec{Scopes: []string{ScopeRead}})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A verified token is remembered until its expiry or the cache's TTL: within it a key
// retired since still serves it, past it the token is checked again.
func TestVerifiedTokensAreRememberedBriefly(t *testing.T) {
	old, rotated := newSigner(t), newSigner(t)
	is := newIssuer(t, old)
	now := time.Now()
	cfg, err := Config{Issuer: is.name, Audience: "api", JWKSURL: is.srv.URL + "/keys"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	v, err := newVerifier(context.Background(), cfg, urlKeys(cfg.HTTPClient, cfg.JWKSURL), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	spec := TokenSpec{Issuer: is.name, Audience: "api", Scopes: []string{ScopeRead}, Now: now}
	long, short := mint(t, old, spec), mint(t, old, TokenSpec{Issuer: is.name, Audience: "api", Scopes: []string{ScopeRead}, Now: now, TTL: 20 * time.Second})
	for _, tok := range []string{long, short} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	is.serve(t, rotated)
	if err := v.keys.fetchNow(context.Background(), v.keys.tried); err != nil { // the old key is gone
		t.Fatal(err)
	}
	now = now.Add(30 * time.Second)
	if _, err := v.Verify(context.Background(), long); err != nil {
		t.Fatalf("remembered token within the TTL: %v", err)
	}
	if _, err := v.Verify(context.Background(), short); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token expired while remembered: %v", err)
	}
	now = now.Add(DefaultCacheTTL)
	if _, err := v.Verify(context.Background(), long); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of a retired key past the TTL: %v", err)
	}
}

// An issuer that cannot be reached is not the token's fault: the error does not wrap
// ErrInvalidToken (the API answers 503), while tokens of keys held keep working.
func TestUnreachableIssuerIsNotAnInvalidToken(t *testing.T) {
	known := newSigner(t)
	is := newIssuer(t, known)
	v, err := NewVerifier(context.Background(), Config{Issuer: is.name, Audience: "api", MinRefresh: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	is.srv.Close()
	spec := TokenSpec{Issuer: is.name, Audience: "api", Scopes: []string{ScopeRead}}
	if _, err := v.Verify(context.Background(), mint(t, known, spec)); err != nil {
		t.Fatalf("token of a held key while the issuer is down: %v", err)
	}
	_, err = v.Verify(context.Background(), mint(t, newSigner(t), spec))
	if err == nil || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unknown key while the issuer is down: %v, want a fetch error", err)
	}
	if _, err := NewVerifier(context.Background(), Config{Issuer: is.name, Audience: "api"}); err == nil {
		t.Fatal("NewVerifier with the issuer down succeeded")
	}
}

// What Keycloak, Auth0 and Entra ID publish: RSA keys, Entra's without an alg. RS256 is
// accepted; PS256 with the same key is not, as it is not configured.
func TestVerifyAcceptsRS256KeysWithoutAlg(t *testing.T) {
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.Import(raw.Public())
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "entra-style")
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	cfg, err := testConfig().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	v, err := newVerifier(context.Background(), cfg, func(context.Context) (jwk.Set, error) { return set, nil }, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), signRaw(t, jwa.RS256(), raw, "entra-style", claims(nil)))
	if err != nil || !p.Has(ScopeRead) {
		t.Fatalf("RS256: %+v, %v", p, err)
	}
	wantInvalid(t, v, signRaw(t, jwa.PS256(), raw, "entra-style", claims(nil)), "PS256 not configured")
}
