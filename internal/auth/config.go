package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
)

// Defaults of Config.
const (
	// DefaultRefreshInterval is how often the key set is fetched again: an issuer
	// publishes a new key well before it signs with it, and a retired key stops being
	// trusted within this interval.
	DefaultRefreshInterval = 15 * time.Minute
	// DefaultMinRefresh bounds how often a token naming an unknown key id makes the key
	// set be fetched again, so that made-up key ids cannot flood the issuer.
	DefaultMinRefresh = 10 * time.Second
	// DefaultCustomerClaim is the claim that holds a customer token's customer id.
	DefaultCustomerClaim = "customer_id"
	// SubjectClaim as Config.CustomerClaim takes the subject as the customer id.
	SubjectClaim = "sub"
)

// DefaultAlgorithms are the signature algorithms accepted unless Config.Algorithms says
// otherwise: what Keycloak, Auth0 and Entra ID sign access tokens with (RS256), and the
// local development key's (ES256).
var DefaultAlgorithms = []string{"RS256", "ES256"}

// Config configures a Verifier. Issuer and Audience are required.
type Config struct {
	// Issuer is the issuer's identifier, compared with the iss claim exactly. Unless
	// JWKSURL or JWKSFile is set it is also where the discovery document is fetched
	// (Issuer + "/.well-known/openid-configuration"), whose jwks_uri names the key set.
	Issuer string
	// Audience must be one of the token's aud values (Auth0: the API identifier;
	// Keycloak: an audience mapper's value; Entra ID: the application id URI or client id).
	Audience string
	// JWKSURL is the key set's URL, for issuers without a discovery document.
	JWKSURL string
	// JWKSFile is a file holding the key set (local development: see InitLocal). It is
	// read again like a URL is fetched again.
	JWKSFile string
	// Algorithms are the signature algorithms accepted (DefaultAlgorithms when empty).
	// "none" and the HMAC algorithms are never accepted.
	Algorithms []string
	// ClockSkew is the leeway allowed when checking exp, nbf and iat (zero: none).
	ClockSkew time.Duration
	// RefreshInterval is how often the key set is fetched again (DefaultRefreshInterval).
	RefreshInterval time.Duration
	// MinRefresh is the shortest interval between two fetches caused by unknown key ids
	// (DefaultMinRefresh).
	MinRefresh time.Duration
	// CacheTTL is how long a verified token is remembered, so that its signature is not
	// checked again on every request (DefaultCacheTTL when zero; negative: never).
	CacheTTL time.Duration
	// CustomerClaim names the claim holding a customer token's customer id
	// (DefaultCustomerClaim; SubjectClaim for the subject itself).
	CustomerClaim string
	// HTTPClient fetches the discovery document and the key set (a client with a 10 s
	// timeout when nil).
	HTTPClient *http.Client
}

// withDefaults fills the zero settings and checks every one, joining all problems.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, errors.New("auth: Issuer is required"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("auth: Audience is required"))
	}
	if c.JWKSURL != "" && c.JWKSFile != "" {
		errs = append(errs, errors.New("auth: set JWKSURL or JWKSFile, not both"))
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("auth: JWKSURL: want an http(s) URL, got %q", c.JWKSURL))
		}
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms
	}
	for _, a := range c.Algorithms {
		if err := acceptable(a); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ClockSkew < 0 {
		errs = append(errs, fmt.Errorf("auth: ClockSkew is negative (%s)", c.ClockSkew))
	}
	c.RefreshInterval = positiveOr(c.RefreshInterval, DefaultRefreshInterval)
	c.MinRefresh = positiveOr(c.MinRefresh, DefaultMinRefresh)
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.CustomerClaim == "" {
		c.CustomerClaim = DefaultCustomerClaim
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return c, errors.Join(errs...)
}

// acceptable checks that a is an asymmetric signature algorithm.
func acceptable(a string) error {
	alg, ok := jwa.LookupSignatureAlgorithm(a)
	switch {
	case !ok:
		return fmt.Errorf("auth: unknown signature algorithm %q", a)
	case alg == jwa.NoSignature(), slices.Contains([]jwa.SignatureAlgorithm{jwa.HS256(), jwa.HS384(), jwa.HS512()}, alg):
		return fmt.Errorf("auth: signature algorithm %q is not accepted: tokens must be signed with the issuer's private key", a)
	}
	return nil
}

func positiveOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
