// Command shopflow-load drives a running Shopflow stack from outside, over HTTP, the way a
// shop would: it registers products and customers, places orders at a fixed rate for a
// while, and waits for each accepted order to settle the way a careful client does (a read
// by id with min_version and wait, no tight polling). It prints what was accepted, refused
// (503) or failed, how many orders settled and how, and how long settling took:
//
//	go run ./cmd/shopflow-load -rate 100 -duration 60s            # uniform, 200 products
//	go run ./cmd/shopflow-load -rate 100 -duration 60s -products 1 # one hot product
//
// With -timeline it also prints, per second, the orders placed and confirmed in it, which
// shows when confirmations stop and resume around a restart (scripts/restart-drill.sh).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/shopflow/shopflow/internal/apiclient"
)

type options struct {
	url        string
	rate       int
	duration   time.Duration
	products   int
	customers  int
	settleWait time.Duration
	timeline   bool
	token      string
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the stack's HTTP API")
	flag.IntVar(&o.rate, "rate", 40, "orders placed per second")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long orders are placed")
	flag.IntVar(&o.products, "products", 200, "products the orders spread over (1: one hot product)")
	flag.IntVar(&o.customers, "customers", 500, "customers the orders spread over (1: one hot customer)")
	flag.DurationVar(&o.settleWait, "settle-timeout", 60*time.Second, "how long an accepted order is waited for")
	flag.BoolVar(&o.timeline, "timeline", false, "print orders placed and confirmed per second")
	flag.StringVar(&o.token, "token", os.Getenv("SHOPFLOW_TOKEN"), "bearer token with the catalog, payments, orders and read scopes "+
		"(default $SHOPFLOW_TOKEN, else one minted with the local key that make up created)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "shopflow-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.token == "" {
		tok, err := localToken(o.duration + o.settleWait + 10*time.Minute)
		if err != nil {
			return fmt.Errorf("no -token given: %w", err)
		}
		o.token = tok
	}
	c := apiclient.New(o.url, 15*time.Second)
	c.Token = o.token
	products, customers, err := seed(ctx, c, o)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Printf("seeded %d products and %d customers; placing %d orders/s for %v\n", len(products), len(customers), o.rate, o.duration)
	r := place(ctx, c, o, products, customers)
	r.print(o)
	return nil
}
