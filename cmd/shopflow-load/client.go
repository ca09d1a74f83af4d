package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/config"
)

// client is a small JSON client of the write and read APIs.
type client struct {
	base  string
	token string // bearer token sent with every request
	http  *http.Client
}

// post sends a command and decodes a 2xx answer into out; it returns the status (0 when
// no answer came).
func (c *client) post(ctx context.Context, path string, body, out any) (int, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(raw))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, out)
}

// get reads a document into out; it returns the status (0 when no answer came).
func (c *client) get(ctx context.Context, path string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	return c.do(req, out)
}

func (c *client) do(req *http.Request, out any) (int, error) {
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if res.StatusCode/100 != 2 {
		return res.StatusCode, fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, body)
	}
	if out == nil {
		return res.StatusCode, nil
	}
	return res.StatusCode, json.Unmarshal(body, out)
}

type created struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

// seed registers the products (with stock for every order) and opens the customers' accounts
// (with funds for every order), eight at a time.
func seed(ctx context.Context, c *client, o options) (products, customers []string, err error) {
	run := stamp()
	orders := int64(o.rate)*int64(o.duration.Seconds()) + 1
	products = make([]string, o.products)
	customers = make([]string, o.customers)
	err = parallel(o.products, func(i int) error {
		var p created
		_, err := c.post(ctx, "/v1/products", map[string]any{"sku": fmt.Sprintf("load-%s-%d", run, i), "name": fmt.Sprintf("Load product %d", i),
			"description": "shopflow-load", "price_cents": 100, "currency": "EUR", "initial_stock": orders}, &p)
		products[i] = p.ID
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	err = parallel(o.customers, func(i int) error {
		var a created
		if _, err := c.post(ctx, "/v1/customers", map[string]any{"name": fmt.Sprintf("Load customer %d", i),
			"email": fmt.Sprintf("load-%s-%d@example.com", run, i)}, &a); err != nil {
			return err
		}
		customers[i] = a.ID
		_, err := c.post(ctx, "/v1/customers/"+a.ID+"/deposits", map[string]any{"amount_cents": orders * 1000}, nil)
		return err
	})
	return products, customers, err
}

// parallel runs fn(0..n-1), eight at a time, and returns the first error.
func parallel(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	sem := make(chan struct{}, 8)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				once.Do(func() { first = err })
			}
		})
	}
	wg.Wait()
	return first
}

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
