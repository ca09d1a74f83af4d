package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shopflow/shopflow/internal/auth"
)

// Auth configures how the HTTP API authenticates its callers (see internal/auth) and
// bounds each one's rate. Its fields are part of Config.
type Auth struct {
	// Issuer is the OpenID Connect issuer whose tokens are trusted (the iss claim). serve
	// refuses to start without one unless Disabled.
	Issuer string `env:"SHOPFLOW_AUTH_ISSUER"`
	// Audience must be among a token's aud values.
	Audience string `env:"SHOPFLOW_AUTH_AUDIENCE" envDefault:"shopflow"`
	// JWKSURL is the issuer's key set; by default the jwks_uri of its discovery document.
	JWKSURL string `env:"SHOPFLOW_AUTH_JWKS_URL"`
	// JWKSFile is a file holding the key set (local development: scripts/stack.sh).
	JWKSFile string `env:"SHOPFLOW_AUTH_JWKS_FILE"`
	// Algorithms are the signature algorithms accepted.
	Algorithms []string `env:"SHOPFLOW_AUTH_ALGORITHMS" envDefault:"RS256,ES256" envSeparator:","`
	// ClockSkew is the leeway for exp, nbf and iat.
	ClockSkew time.Duration `env:"SHOPFLOW_AUTH_CLOCK_SKEW" envDefault:"30s"`
	// JWKSRefresh is how often the key set is fetched again.
	JWKSRefresh time.Duration `env:"SHOPFLOW_AUTH_JWKS_REFRESH" envDefault:"15m"`
	// CacheTTL is how long a verified token is remembered (negative: never).
	CacheTTL time.Duration `env:"SHOPFLOW_AUTH_CACHE_TTL" envDefault:"1m"`
	// CustomerClaim names the claim with a customer token's customer id ("sub": the subject).
	CustomerClaim string `env:"SHOPFLOW_AUTH_CUSTOMER_CLAIM" envDefault:"customer_id"`
	// Disabled serves every route without a token (a warning is logged at every start).
	Disabled bool `env:"SHOPFLOW_AUTH_DISABLED" envDefault:"false"`
	// SigningKey is the private key `shopflow token` signs with; by default the one
	// `make up` created in the state directory.
	SigningKey string `env:"SHOPFLOW_AUTH_SIGNING_KEY"`
	// RatePerSecond and RateBurst bound each principal's requests, CustomerRatePerSecond
	// and CustomerRateBurst each customer token's; a negative rate turns a limit off.
	RatePerSecond         float64 `env:"SHOPFLOW_RATE_LIMIT" envDefault:"500"`
	RateBurst             int     `env:"SHOPFLOW_RATE_BURST" envDefault:"1000"`
	CustomerRatePerSecond float64 `env:"SHOPFLOW_CUSTOMER_RATE_LIMIT" envDefault:"20"`
	CustomerRateBurst     int     `env:"SHOPFLOW_CUSTOMER_RATE_BURST" envDefault:"40"`
}

// Verifier returns the verifier's configuration.
func (a Auth) Verifier() auth.Config {
	return auth.Config{Issuer: a.Issuer, Audience: a.Audience, JWKSURL: a.JWKSURL, JWKSFile: a.JWKSFile,
		Algorithms: a.Algorithms, ClockSkew: a.ClockSkew, RefreshInterval: a.JWKSRefresh, CacheTTL: a.CacheTTL,
		CustomerClaim: a.CustomerClaim}
}

// SigningKeyPath is where `shopflow token` finds its key: SHOPFLOW_AUTH_SIGNING_KEY, else
// auth/signing-key.json in SHOPFLOW_STATE_DIR, else in .shopflow (the scripts' default
// state directory, from the repository root).
func (a Auth) SigningKeyPath() string {
	if a.SigningKey != "" {
		return a.SigningKey
	}
	dir := os.Getenv("SHOPFLOW_STATE_DIR")
	if dir == "" {
		dir = ".shopflow"
	}
	return filepath.Join(dir, "auth", auth.SigningKeyFile)
}

// ValidateServing checks what serving the API needs: an issuer, or authentication
// switched off explicitly.
func (a Auth) ValidateServing() error {
	switch {
	case a.Issuer == "" && !a.Disabled:
		return errors.New("SHOPFLOW_AUTH_ISSUER: required to serve the API (the OpenID Connect issuer whose tokens are trusted); " +
			"`make up` configures a local one; set SHOPFLOW_AUTH_DISABLED=true only where something in front of Shopflow authenticates")
	case a.Issuer != "" && a.Disabled:
		return errors.New("SHOPFLOW_AUTH_DISABLED: true while SHOPFLOW_AUTH_ISSUER is set; choose one")
	}
	return nil
}

// validate checks the settings that need no issuer.
func (a Auth) validate() []error {
	var errs []error
	if a.Audience == "" {
		errs = append(errs, errors.New("SHOPFLOW_AUTH_AUDIENCE: must not be empty"))
	}
	if a.JWKSURL != "" && a.JWKSFile != "" {
		errs = append(errs, errors.New("SHOPFLOW_AUTH_JWKS_URL, SHOPFLOW_AUTH_JWKS_FILE: set one, not both"))
	}
	if a.ClockSkew < 0 || a.ClockSkew > 10*time.Minute {
		errs = append(errs, fmt.Errorf("SHOPFLOW_AUTH_CLOCK_SKEW: want 0 to 10m, got %s", a.ClockSkew))
	}
	if a.JWKSRefresh < time.Minute {
		errs = append(errs, fmt.Errorf("SHOPFLOW_AUTH_JWKS_REFRESH: want at least 1m, got %s", a.JWKSRefresh))
	}
	if a.CacheTTL == 0 || a.CacheTTL > 10*time.Minute {
		errs = append(errs, fmt.Errorf("SHOPFLOW_AUTH_CACHE_TTL: want up to 10m (negative: off), got %s", a.CacheTTL))
	}
	if a.CustomerClaim == "" {
		errs = append(errs, errors.New("SHOPFLOW_AUTH_CUSTOMER_CLAIM: must not be empty"))
	}
	if a.RatePerSecond == 0 || a.CustomerRatePerSecond == 0 {
		errs = append(errs, errors.New("SHOPFLOW_RATE_LIMIT, SHOPFLOW_CUSTOMER_RATE_LIMIT: must not be 0 (negative turns a limit off)"))
	}
	if a.RateBurst < 1 || a.CustomerRateBurst < 1 {
		errs = append(errs, errors.New("SHOPFLOW_RATE_BURST, SHOPFLOW_CUSTOMER_RATE_BURST: must be at least 1"))
	}
	return errs
}
