package auth

import (
	"context"
	"slices"
)

// Shopflow's scopes. A role is a scope: a token carries the scopes of the roles its
// principal holds, and each route of the API requires one of them (see api.Routes).
const (
	// ScopeCatalog manages the catalog: register products, restock.
	ScopeCatalog = "catalog"
	// ScopePayments opens customer accounts and deposits funds.
	ScopePayments = "payments"
	// ScopeOrders places and cancels orders for any customer (back office, integrations).
	ScopeOrders = "orders"
	// ScopeRead reads every order, product and customer.
	ScopeRead = "read"
	// ScopeAdmin runs the operator console and its admin API: streams, dead letters,
	// rebuilds.
	ScopeAdmin = "admin"
	// ScopeCustomer acts for one customer (Principal.CustomerID): it places, cancels and
	// reads only that customer's orders, reads only that customer's account, and reads the
	// catalog.
	ScopeCustomer = "customer"
)

// Scopes lists Shopflow's scopes.
var Scopes = []string{ScopeCatalog, ScopePayments, ScopeOrders, ScopeRead, ScopeAdmin, ScopeCustomer}

// Principal is who a request acts for, as its token says.
type Principal struct {
	// Subject is the token's sub claim.
	Subject string
	// ClientID is the OAuth client the token was issued to ("" if the token names none).
	ClientID string
	// Scopes are the token's scopes, Shopflow's and others.
	Scopes []string
	// CustomerID is the customer a token with ScopeCustomer acts for ("" if none).
	CustomerID string
}

// Has reports whether p holds scope.
func (p Principal) Has(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Key identifies the principal for per-principal limits: subject and client id.
func (p Principal) Key() string { return p.Subject + "\x00" + p.ClientID }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal ctx carries, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
