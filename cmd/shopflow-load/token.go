package main

import (
	"cmp"
	"os"
	"time"

	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/config"
)

// localToken mints a staff token (catalog, payments, orders, read) valid for ttl with the
// local development key, for the issuer and audience of the environment's settings.
func localToken(ttl time.Duration) (string, error) {
	path := config.Auth{SigningKey: os.Getenv("SHOPFLOW_AUTH_SIGNING_KEY")}.SigningKeyPath()
	signer, err := auth.LoadSigner(path)
	if err != nil {
		return "", err
	}
	return signer.Mint(auth.TokenSpec{Issuer: cmp.Or(os.Getenv("SHOPFLOW_AUTH_ISSUER"), auth.LocalIssuer),
		Audience: cmp.Or(os.Getenv("SHOPFLOW_AUTH_AUDIENCE"), auth.DefaultAudience), Subject: "shopflow-load",
		Scopes: []string{auth.ScopeCatalog, auth.ScopePayments, auth.ScopeOrders, auth.ScopeRead}, TTL: ttl})
}
