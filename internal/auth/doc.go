// Package auth authenticates the callers of Shopflow's HTTP API with OAuth 2.0 bearer
// tokens: JWTs signed by an OpenID Connect issuer and verified against its JWKS.
//
// # Verification
//
// [Verifier] checks a token's signature with a key of the issuer's key set (found through
// the issuer's discovery document, or given as a URL or a file), then its claims: iss must
// equal the configured issuer, aud must contain the configured audience, exp must be in the
// future and nbf/iat not in the future, each within the configured clock skew. Only the
// configured signature algorithms are accepted (RS256 and ES256 by default): "none", HMAC
// algorithms (which would let a public key act as a shared secret) and any algorithm the
// key does not declare are refused before a signature is checked. Keys are kept in memory,
// refreshed every Config.RefreshInterval and at once (at most every Config.MinRefresh) when
// a token names a key id the set does not hold, so an issuer's key rotation needs no
// restart. A verified token is remembered for Config.CacheTTL (or until it expires), so
// a client's repeated token is not checked again on every request. The JWT work is
// github.com/lestrrat-go/jwx/v3's.
//
// # Claims read
//
//   - sub: the principal's subject, recorded in every event's metadata.
//   - scope (a space-separated string, RFC 8693/9068; Keycloak, Auth0), scp (a string or an
//     array; Entra ID delegated permissions) and roles (an array; Entra ID application
//     roles): together, the principal's scopes. Shopflow's scopes are [Scopes].
//   - client_id (RFC 9068; Keycloak), else azp (Auth0, Keycloak, Entra ID v2), else appid
//     (Entra ID v1): the OAuth client the token was issued to, recorded with the subject.
//   - the customer claim (Config.CustomerClaim, "customer_id" by default; "sub" takes the
//     subject itself): the customer id a token with the customer scope acts for.
//
// # Local development
//
// [InitLocal] creates a signing key and its public JWKS in a directory (scripts/stack.sh
// uses the state directory), [LocalSigner] mints tokens with it (`shopflow token`), and
// a Verifier given the JWKS file trusts them. Tests use [NewTestKey] in memory.
package auth
