package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/shopflow/shopflow/internal/apiclient"
)

// stamp is a run id that keeps SKUs and emails unique across runs.
func stamp() string { return strconv.FormatInt(time.Now().UnixNano()%1e10, 36) }

// results is what a run counted.
type results struct {
	mu        sync.Mutex
	start     time.Time
	sent      int
	byStatus  map[int]int // POST /v1/orders answers; 0: no answer (timeout, refused)
	postTimes []time.Duration
	settled   map[string]int // final status or rejection reason → orders
	settle    []time.Duration
	unsettled int
	placedAt  map[int]int // second of the run → orders accepted
	confirmed map[int]int // second of the run → orders seen confirmed
}

// place sends orders at o.rate for o.duration, each from its own goroutine (a slow answer
// never delays the next order), and waits until every accepted one settled or timed out.
func place(ctx context.Context, c *apiclient.Client, o options, products, customers []string) *results {
	r := &results{start: time.Now(), byStatus: map[int]int{}, settled: map[string]int{}, placedAt: map[int]int{}, confirmed: map[int]int{}}
	tick := time.NewTicker(time.Second / time.Duration(o.rate))
	defer tick.Stop()
	end := r.start.Add(o.duration)
	var wg sync.WaitGroup
	for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
		<-tick.C
		body := map[string]any{"customer_id": customers[i%len(customers)],
			"lines": []map[string]any{{"product_id": products[i%len(products)], "quantity": 1}}}
		wg.Go(func() { r.order(ctx, c, o, body) })
	}
	wg.Wait()
	return r
}

// order places one order and, once accepted, waits for it to settle.
func (r *results) order(ctx context.Context, c *apiclient.Client, o options, body map[string]any) {
	t0 := time.Now()
	var res apiclient.Created
	status, err := c.Post(ctx, "/v1/orders", "", body, &res)
	took := time.Since(t0)
	r.mu.Lock()
	r.sent++
	r.byStatus[status]++
	r.postTimes = append(r.postTimes, took)
	if err == nil {
		r.placedAt[int(t0.Sub(r.start).Seconds())]++
	}
	r.mu.Unlock()
	if err != nil {
		return
	}
	final, at := r.await(ctx, c, o, res.ID, t0)
	r.mu.Lock()
	defer r.mu.Unlock()
	if final == "" {
		r.unsettled++
		return
	}
	r.settled[final]++
	r.settle = append(r.settle, at.Sub(t0))
	if final == "confirmed" {
		r.confirmed[int(at.Sub(r.start).Seconds())]++
	}
}

// await reads the order with min_version=2 (its first change after placing settles it) and
// wait=10s until it is settled or o.settleWait passed; it returns the final status (the
// reason for a rejection) and when it was seen, or "" if it never settled.
func (r *results) await(ctx context.Context, c *apiclient.Client, o options, id string, t0 time.Time) (string, time.Time) {
	deadline := t0.Add(o.settleWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var doc struct {
			Status string `json:"status"`
			Reason string `json:"reject_reason"`
		}
		status, err := c.Get(ctx, "/v1/orders/"+id+"?min_version=2&wait=10s", &doc)
		switch {
		case err == nil && doc.Status == "rejected" && doc.Reason != "":
			return "rejected:" + doc.Reason, time.Now()
		case err == nil && doc.Status != "pending":
			return doc.Status, time.Now()
		case status == 0 || status >= 500: // the stack is away: a careful client backs off
			time.Sleep(time.Second)
		}
	}
	return "", time.Time{}
}

// print writes the run's summary (and the timeline with -timeline).
func (r *results) print(o options) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Printf("sent %d orders in %v: answers %v (0 = no answer)\n", r.sent, o.duration, r.byStatus)
	fmt.Printf("POST /v1/orders p50 %v p99 %v max %v\n", pct(r.postTimes, 50), pct(r.postTimes, 99), pct(r.postTimes, 100))
	fmt.Printf("settled %v, unsettled after %v: %d\n", r.settled, o.settleWait, r.unsettled)
	fmt.Printf("settle p50 %v p99 %v max %v\n", pct(r.settle, 50), pct(r.settle, 99), pct(r.settle, 100))
	if !o.timeline {
		return
	}
	last := 0
	for s := range r.confirmed {
		last = max(last, s)
	}
	for s := 0; s <= max(last, int(o.duration.Seconds())); s++ {
		fmt.Printf("t=%3ds placed %4d confirmed %4d\n", s, r.placedAt[s], r.confirmed[s])
	}
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(int(float64(len(s))*p/100), len(s)-1)].Round(time.Millisecond)
}
