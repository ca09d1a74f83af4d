package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Local development issuer: what scripts/stack.sh configures the local process with and
// what `shopflow token` signs for unless told otherwise.
const (
	// LocalIssuer is the iss of locally minted tokens.
	LocalIssuer = "shopflow-local"
	// DefaultAudience is the audience Shopflow expects unless configured otherwise.
	DefaultAudience = "shopflow"
	// LocalClientID is the client_id of locally minted tokens.
	LocalClientID = "shopflow-cli"
	// SigningKeyFile and JWKSFile are the files InitLocal writes in its directory: the
	// private key (mode 0600) and the public key set the local process trusts.
	SigningKeyFile = "signing-key.json"
	JWKSFile       = "jwks.json"
)

// Signer mints tokens with a private key: the local development issuer, and tests.
type Signer struct {
	key jwk.Key // private, with kid and alg
}

// NewSigner returns a signer with a new ES256 key (P-256) and a random key id.
func NewSigner() (*Signer, error) {
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generate key: %w", err)
	}
	key, err := jwk.Import(raw)
	if err != nil {
		return nil, fmt.Errorf("auth: import key: %w", err)
	}
	for name, value := range map[string]any{jwk.KeyIDKey: "local-" + uuid.NewString()[:8], jwk.AlgorithmKey: jwa.ES256(), jwk.KeyUsageKey: jwk.ForSignature} {
		if err := key.Set(name, value); err != nil {
			return nil, fmt.Errorf("auth: key %s: %w", name, err)
		}
	}
	return &Signer{key: key}, nil
}

// LoadSigner reads a private key written by InitLocal.
func LoadSigner(path string) (*Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: signing key: %w", err)
	}
	key, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("auth: signing key %s: %w", path, err)
	}
	if private, err := jwk.IsPrivateKey(key); err != nil || !private {
		return nil, fmt.Errorf("auth: signing key %s holds no private key", path)
	}
	if _, ok := key.Algorithm(); !ok {
		return nil, fmt.Errorf("auth: signing key %s names no algorithm", path)
	}
	return &Signer{key: key}, nil
}

// InitLocal makes sure dir holds a signing key (SigningKeyFile) and its public key set
// (JWKSFile), creating both if the key is missing; it keeps an existing key, so that
// tokens minted before stay valid. It reports whether it created the key.
func InitLocal(dir string) (created bool, err error) {
	keyPath := filepath.Join(dir, SigningKeyFile)
	s, err := LoadSigner(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		if s, err = NewSigner(); err != nil {
			return false, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("auth: %w", err)
		}
		if err := writeJSON(keyPath, s.key, 0o600); err != nil {
			return false, err
		}
		created = true
	}
	if err != nil {
		return false, err
	}
	set, err := s.PublicSet()
	if err != nil {
		return false, err
	}
	return created, writeJSON(filepath.Join(dir, JWKSFile), set, 0o644)
}

// writeJSON writes v to path through a temporary file, so readers never see half a file.
func writeJSON(path string, v any, mode os.FileMode) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("auth: encode %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), mode); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}

// PublicSet returns the key set that verifies the signer's tokens.
func (s *Signer) PublicSet() (jwk.Set, error) {
	pub, err := s.key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("auth: public key: %w", err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, fmt.Errorf("auth: key set: %w", err)
	}
	return set, nil
}

// Verifier returns a verifier that trusts this signer's key (tests): cfg's key set
// settings are ignored.
func (s *Signer) Verifier(ctx context.Context, cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	set, err := s.PublicSet()
	if err != nil {
		return nil, err
	}
	return newVerifier(ctx, cfg, func(context.Context) (jwk.Set, error) { return set, nil }, time.Now)
}

// TokenSpec is what a minted token says.
type TokenSpec struct {
	// Issuer and Audience default to LocalIssuer and DefaultAudience.
	Issuer, Audience string
	// Subject defaults to CustomerID when set, else to "local-developer".
	Subject string
	// ClientID defaults to LocalClientID.
	ClientID string
	// Scopes become the scope claim, space-separated.
	Scopes []string
	// CustomerID, if set, is the customer_id claim.
	CustomerID string
	// TTL is the token's lifetime (1 hour when zero).
	TTL time.Duration
	// Now is the issue time (time.Now when zero).
	Now time.Time
}

// Mint returns a signed token (compact JWS) of spec.
func (s *Signer) Mint(spec TokenSpec) (string, error) {
	now := spec.Now
	if now.IsZero() {
		now = time.Now()
	}
	ttl := spec.TTL
	if ttl == 0 {
		ttl = time.Hour
	}
	sub := spec.Subject
	if sub == "" {
		sub = "local-developer"
		if spec.CustomerID != "" {
			sub = spec.CustomerID
		}
	}
	b := jwt.NewBuilder().Issuer(or(spec.Issuer, LocalIssuer)).Audience([]string{or(spec.Audience, DefaultAudience)}).
		Subject(sub).IssuedAt(now).NotBefore(now).Expiration(now.Add(ttl)).JwtID(uuid.NewString()).
		Claim("client_id", or(spec.ClientID, LocalClientID)).Claim("scope", strings.Join(spec.Scopes, " "))
	if spec.CustomerID != "" {
		b = b.Claim(DefaultCustomerClaim, spec.CustomerID)
	}
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("auth: build token: %w", err)
	}
	alg, _ := s.key.Algorithm()
	salg, ok := jwa.LookupSignatureAlgorithm(alg.String())
	if !ok {
		return "", fmt.Errorf("auth: signing key algorithm %q", alg)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(salg, s.key))
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return string(signed), nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
