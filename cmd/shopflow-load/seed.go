package main

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/shopflow/shopflow/internal/apiclient"
)

// seed registers the products (with stock for every order) and opens the customers' accounts
// (with funds for every order), eight at a time.
func seed(ctx context.Context, c *apiclient.Client, o options) (products, customers []string, err error) {
	run := stamp()
	orders := int64(o.rate)*int64(o.duration.Seconds()) + 1
	products = make([]string, o.products)
	customers = make([]string, o.customers)
	err = parallel(o.products, func(i int) error {
		var p apiclient.Created
		_, err := c.Post(ctx, "/v1/products", "", map[string]any{"sku": fmt.Sprintf("load-%s-%d", run, i), "name": fmt.Sprintf("Load product %d", i),
			"description": "shopflow-load", "price_cents": 100, "currency": "EUR", "initial_stock": orders}, &p)
		products[i] = p.ID
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	err = parallel(o.customers, func(i int) error {
		var a apiclient.Created
		if _, err := c.Post(ctx, "/v1/customers", "", map[string]any{"name": fmt.Sprintf("Load customer %d", i),
			"email": fmt.Sprintf("load-%s-%d@example.com", run, i)}, &a); err != nil {
			return err
		}
		customers[i] = a.ID
		_, err := c.Post(ctx, "/v1/customers/"+a.ID+"/deposits", "", map[string]any{"amount_cents": orders * 1000}, nil)
		return err
	})
	return products, customers, err
}

// parallel runs fn(0..n-1), eight at a time, and returns the first error.
func parallel(n int, fn func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error { return fn(i) })
	}
	return g.Wait()
}
