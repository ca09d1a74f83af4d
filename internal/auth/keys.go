package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// maxDocumentBytes bounds a fetched discovery document or key set.
const maxDocumentBytes = 1 << 20

// ErrUnknownKey is wrapped by a verification that names a key id the issuer's key set does
// not hold, even after fetching it again.
var ErrUnknownKey = errors.New("auth: the token's key id is not in the issuer's key set")

// keySet keeps the issuer's public keys and fetches them again every refresh interval (in
// the background, serving the keys it has meanwhile) and, at most every minRefresh, when a
// token names a key id it does not hold. It is safe for concurrent use.
type keySet struct {
	fetch      func(context.Context) (jwk.Set, error)
	refresh    time.Duration
	minRefresh time.Duration
	now        func() time.Time

	flight  sync.Mutex // held while fetching
	mu      sync.Mutex // guards set and fetched
	set     jwk.Set
	fetched time.Time // last successful fetch
	tried   time.Time // last fetch attempt
}

// load fetches the key set for the first time.
func (k *keySet) load(ctx context.Context) error {
	return k.fetchNow(ctx, time.Time{})
}

// key returns the key with id kid ("" takes the set's only key).
func (k *keySet) key(ctx context.Context, kid string) (jwk.Key, error) {
	set, fetched, tried := k.snapshot()
	if key, ok := lookup(set, kid); ok {
		if k.now().Sub(fetched) >= k.refresh {
			go k.refreshInBackground()
		}
		return key, nil
	}
	if k.now().Sub(tried) < k.minRefresh {
		return nil, fmt.Errorf("%w (key id %q)", ErrUnknownKey, kid)
	}
	if err := k.fetchNow(ctx, tried); err != nil {
		return nil, err
	}
	set, _, _ = k.snapshot()
	if key, ok := lookup(set, kid); ok {
		return key, nil
	}
	return nil, fmt.Errorf("%w (key id %q)", ErrUnknownKey, kid)
}

func (k *keySet) snapshot() (jwk.Set, time.Time, time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.set, k.fetched, k.tried
}

// fetchNow fetches the set unless another fetch started after since.
func (k *keySet) fetchNow(ctx context.Context, since time.Time) error {
	k.flight.Lock()
	defer k.flight.Unlock()
	if _, _, tried := k.snapshot(); tried.After(since) {
		return nil
	}
	k.mu.Lock()
	k.tried = k.now()
	k.mu.Unlock()
	set, err := k.fetch(ctx)
	if err != nil {
		return fmt.Errorf("auth: fetch the issuer's key set: %w", err)
	}
	k.mu.Lock()
	k.set, k.fetched = set, k.now()
	k.mu.Unlock()
	return nil
}

// refreshInBackground fetches the set unless a fetch is running; a failure keeps the keys.
func (k *keySet) refreshInBackground() {
	if !k.flight.TryLock() {
		return
	}
	k.flight.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, tried := k.snapshot()
	if k.now().Sub(tried) < k.minRefresh {
		return
	}
	_ = k.fetchNow(ctx, tried)
}

// lookup finds kid in set; an empty kid matches a set of one key.
func lookup(set jwk.Set, kid string) (jwk.Key, bool) {
	if set == nil {
		return nil, false
	}
	if kid == "" {
		if set.Len() != 1 {
			return nil, false
		}
		return set.Key(0)
	}
	return set.LookupKeyID(kid)
}

// fileKeys reads a key set from a file.
func fileKeys(path string) func(context.Context) (jwk.Set, error) {
	return func(context.Context) (jwk.Set, error) {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return parsePublicSet(raw)
	}
}

// urlKeys fetches a key set from a URL.
func urlKeys(client *http.Client, url string) func(context.Context) (jwk.Set, error) {
	return func(ctx context.Context) (jwk.Set, error) {
		raw, err := get(ctx, client, url)
		if err != nil {
			return nil, err
		}
		return parsePublicSet(raw)
	}
}

// parsePublicSet parses a key set, which must hold public keys only.
func parsePublicSet(raw []byte) (jwk.Set, error) {
	set, err := jwk.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse key set: %w", err)
	}
	for i := range set.Len() {
		key, _ := set.Key(i)
		if pk, err := jwk.IsPrivateKey(key); err == nil && pk {
			return nil, errors.New("the key set holds a private key")
		}
	}
	return set, nil
}

// discover returns the jwks_uri of the issuer's discovery document, which must name the
// same issuer (OpenID Connect Discovery 1.0, section 4.3).
func discover(ctx context.Context, client *http.Client, issuer string) (string, error) {
	raw, err := get(ctx, client, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return "", fmt.Errorf("auth: discovery: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", fmt.Errorf("auth: discovery document: %w", err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("auth: discovery document names issuer %q, not %q", doc.Issuer, issuer)
	}
	if doc.JWKSURI == "" {
		return "", errors.New("auth: discovery document has no jwks_uri")
	}
	return doc.JWKSURI, nil
}

// get fetches url, which must answer 200 with at most maxDocumentBytes.
func get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxDocumentBytes+1))
	if err == nil && len(raw) > maxDocumentBytes {
		err = fmt.Errorf("GET %s: more than %d bytes", url, maxDocumentBytes)
	}
	return raw, err
}
