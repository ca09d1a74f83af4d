package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/config"
)

// token mints a token with the local development key (`make up` creates it) and prints
// it: shopflow token --role catalog,payments [--customer ID] [--ttl 1h] [--subject S].
func token(cfg config.Config, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	roles := fs.String("role", "", "comma-separated roles (scopes): "+strings.Join(auth.Scopes, ", ")+"; or all (every one but customer)")
	customer := fs.String("customer", "", "the customer id a customer token acts for (implies --role customer)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	subject := fs.String("subject", "", "the token's subject (default: the customer id, else local-developer)")
	fs.SetOutput(out)
	if err := fs.Parse(args); err != nil {
		return err
	}
	scopes, err := parseRoles(*roles, *customer != "")
	if err != nil {
		return err
	}
	if *ttl <= 0 {
		return fmt.Errorf("--ttl: must be positive, got %s", *ttl)
	}
	signer, err := auth.LoadSigner(cfg.Auth.SigningKeyPath())
	if err != nil {
		return fmt.Errorf("%w (run make up, which creates the local key, or set SHOPFLOW_AUTH_SIGNING_KEY)", err)
	}
	issuer := cfg.Auth.Issuer
	if issuer == "" {
		issuer = auth.LocalIssuer
	}
	tok, err := signer.Mint(auth.TokenSpec{Issuer: issuer, Audience: cfg.Auth.Audience, Subject: *subject,
		Scopes: scopes, CustomerID: *customer, TTL: *ttl})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, tok)
	return err
}

// parseRoles turns --role into scopes; "all" is every scope but customer.
func parseRoles(roles string, customer bool) ([]string, error) {
	var scopes []string
	for r := range strings.SplitSeq(roles, ",") {
		switch r = strings.TrimSpace(r); {
		case r == "":
		case r == "all":
			scopes = append(scopes, slices.DeleteFunc(slices.Clone(auth.Scopes), func(s string) bool { return s == auth.ScopeCustomer })...)
		case slices.Contains(auth.Scopes, r):
			scopes = append(scopes, r)
		default:
			return nil, fmt.Errorf("--role: unknown role %q (known: %s, all)", r, strings.Join(auth.Scopes, ", "))
		}
	}
	if customer && !slices.Contains(scopes, auth.ScopeCustomer) {
		scopes = append(scopes, auth.ScopeCustomer)
	}
	if len(scopes) == 0 {
		return nil, fmt.Errorf("--role: name at least one of %s, all (or --customer ID)", strings.Join(auth.Scopes, ", "))
	}
	return scopes, nil
}

// authInit creates the local development key and key set in dir (idempotent).
func authInit(args []string, out io.Writer) error {
	if len(args) != 2 || args[0] != "init-local" {
		return fmt.Errorf("usage: shopflow auth init-local <dir>")
	}
	created, err := auth.InitLocal(args[1])
	if err != nil {
		return err
	}
	if created {
		_, err = fmt.Fprintf(out, "created a local signing key and its key set in %s\n", args[1])
	}
	return err
}
