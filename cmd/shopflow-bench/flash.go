package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/sagas"
)

// Flash-sale benchmark settings.
const (
	flashRate      = 200 // orders/s, in both phases
	flashProducts  = 200 // of the uniform phase; the flash phase has one
	flashCustomers = 300
	// flashMargin is how long past the deadline of the last order placed the bench waits
	// for settlement: the deadline scanner rejects an order at most about Deadline plus
	// its ScanInterval (1 s) after it was placed, and its relay then publishes the rejection.
	flashMargin = 10 * time.Second
)

var flashDuration = flag.Duration("flash-duration", 60*time.Second, "length of each flash_sale phase of placing orders")

// benchFlashSale measures the order saga under a flash sale: flashRate orders/s for
// -flash-duration, each one line of quantity 1 by flashCustomers customers in turn, all of
// one product, against the same load spread uniformly over flashProducts products as
// baseline, each phase on a fresh saga rig (uniform first) with the production deadline.
// Stock and funds suffice for every order, so a healthy saga confirms them all. It reports
// the settle p50 and p99 of all accepted orders (an order not settled when the wait ends
// counts as its age then: a lower bound), the percentage confirmed within the deadline, the
// deadline scanner's timeout rejections and the reactors' retries (shopflow_saga_retries_total:
// reactions that failed transiently, e.g. a version conflict after Command.MaxAttempts
// attempts). The wait for settlement ends flashMargin past the last order's deadline, so a
// collapsing saga still ends in bounded time.
func benchFlashSale(ctx context.Context, o options) error {
	o.rate, o.duration = flashRate, *flashDuration
	uniform, err := runFlashPhase(ctx, o, "uniform", flashProducts)
	if err != nil {
		return fmt.Errorf("uniform: %w", err)
	}
	quiesce(ctx, o)
	flash, err := runFlashPhase(ctx, o, "flash", 1)
	if err != nil {
		return fmt.Errorf("flash: %w", err)
	}
	report("flash_sale_settle_p50", percentile(flash.lat, 50), "ms", percentile(uniform.lat, 50))
	report("flash_sale_settle_p99", percentile(flash.lat, 99), "ms", percentile(uniform.lat, 99))
	report("flash_sale_settled_fraction", flash.percentInTime(), "%", uniform.percentInTime())
	report("flash_sale_timeouts", flash.timeouts, "orders", uniform.timeouts)
	report("flash_sale_retries", flash.retries, "retries", uniform.retries)
	return nil
}

// flashResult is what one phase measured.
type flashResult struct {
	accepted int
	inTime   int             // confirmed within the deadline
	lat      []time.Duration // per accepted order: to its settling event, or its age when the wait ended
	timeouts float64         // shopflow_saga_timeouts_total
	retries  float64         // shopflow_saga_retries_total, all reactors
}

// percentInTime is the share of accepted orders confirmed within the deadline, in percent
// (report's two decimals of a fraction could not tell 96.5 % from 97.4 %).
func (f flashResult) percentInTime() float64 {
	if f.accepted == 0 {
		return 0
	}
	return 100 * float64(f.inTime) / float64(f.accepted)
}

// runFlashPhase places orders over the first products of a fresh rig of that many products
// at o.rate for o.duration, waits for them to settle, and returns what it saw.
func runFlashPhase(ctx context.Context, o options, name string, products int) (flashResult, error) {
	rig, err := newSagaRigOf(ctx, o, sagaCatalogue{products: products, customers: flashCustomers})
	if err != nil {
		return flashResult{}, err
	}
	defer rig.close()
	placed, err := rig.placeFlash(ctx, o)
	if err != nil {
		return flashResult{}, err
	}
	deadline := cmp.Or(rig.cfg.Deadline, sagas.DefaultDeadline)
	end := rig.waitSettledUntil(ctx, placed, time.Now().Add(deadline+flashMargin))
	if ctx.Err() != nil {
		return flashResult{}, ctx.Err()
	}
	outcomes, err := rig.outcomes(ctx)
	if err != nil {
		return flashResult{}, err
	}
	res, unsettled := rig.settlement(placed, outcomes, deadline, end)
	res.timeouts, res.retries = rig.sagaCounters(name)
	fmt.Fprintf(os.Stderr, "flash_sale %s: %d accepted, %d confirmed within %v, %d unsettled when the wait ended; outcomes %v\n",
		name, res.accepted, res.inTime, deadline, unsettled, countOutcomes(placed, outcomes))
	return res, nil
}

// settlement times the placed orders' settlement (an order unsettled at end: its age then),
// counts those confirmed within the deadline, and returns how many had not settled.
func (r *sagaRig) settlement(placed map[string]time.Time, outcomes map[string]string, deadline time.Duration,
	end time.Time) (res flashResult, unsettled int) {
	res.accepted = len(placed)
	for id, t0 := range placed {
		v, ok := r.settled.Load(id)
		if !ok {
			unsettled++
			res.lat = append(res.lat, end.Sub(t0))
			continue
		}
		d := v.(time.Time).Sub(t0)
		res.lat = append(res.lat, d)
		if outcomes[id] == order.TypeOrderConfirmed && d <= deadline {
			res.inTime++
		}
	}
	return res, unsettled
}

// placeFlash places orders at o.rate for o.duration, one line of quantity 1 of a random
// product each, the customers in turn, and returns when each accepted one was placed.
func (r *sagaRig) placeFlash(ctx context.Context, o options) (map[string]time.Time, error) {
	var mu sync.Mutex
	placed := map[string]time.Time{}
	var seq atomic.Int64
	err := paced(ctx, o, func(_, _ int) error {
		i := int(seq.Add(1))
		cmd := command.PlaceOrder{CustomerID: r.customers[i%len(r.customers)],
			Lines: []order.Line{{ProductID: r.products[rand.IntN(len(r.products))], Quantity: 1}}}
		t0 := time.Now()
		res, err := r.place.Handle(ctx, cmd, command.Options{})
		if err != nil {
			return err
		}
		mu.Lock()
		placed[res.ID] = t0
		mu.Unlock()
		return nil
	})
	return placed, err
}

// waitSettledUntil waits until every placed order has settled or until is reached, and
// returns when it stopped waiting.
func (r *sagaRig) waitSettledUntil(ctx context.Context, placed map[string]time.Time, until time.Time) time.Time {
	for ctx.Err() == nil && time.Now().Before(until) {
		pending := 0
		for id := range placed {
			if _, ok := r.settled.Load(id); !ok {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Now()
}

// outcomes returns the settling event of every settled order, by order id: OrderConfirmed,
// or OrderRejected with its reason ("OrderRejected:timeout").
func (r *sagaRig) outcomes(ctx context.Context) (map[string]string, error) {
	rows, err := r.pools[sagas.Orders].Query(ctx, `SELECT stream_id, event_type, coalesce(payload->>'reason', '')
		FROM events WHERE stream_type = $1 AND version = 2`, order.AggregateType)
	if err != nil {
		return nil, fmt.Errorf("order outcomes: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var stream, typ, reason string
		if err := rows.Scan(&stream, &typ, &reason); err != nil {
			return nil, fmt.Errorf("order outcomes: %w", err)
		}
		if reason != "" {
			typ += ":" + reason
		}
		out[strings.TrimPrefix(stream, order.AggregateType+"-")] = typ
	}
	return out, rows.Err()
}

// countOutcomes counts the placed orders by outcome ("pending" for none yet).
func countOutcomes(placed map[string]time.Time, outcomes map[string]string) map[string]int {
	n := map[string]int{}
	for id := range placed {
		n[cmp.Or(outcomes[id], "pending")]++
	}
	return n
}

// sagaCounters returns the rig's timeout rejections and its reactors' retries, and prints the
// retries by reactor on stderr.
func (r *sagaRig) sagaCounters(phase string) (timeouts, retries float64) {
	families, err := r.registry.Gather()
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: flash_sale %s: metrics: %v\n", phase, err)
	}
	byReactor := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "shopflow_saga_timeouts_total":
				timeouts += m.GetCounter().GetValue()
			case "shopflow_saga_retries_total":
				retries += m.GetCounter().GetValue()
				for _, l := range m.GetLabel() {
					if l.GetName() == "reactor" {
						byReactor[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	fmt.Fprintf(os.Stderr, "flash_sale %s: retries by reactor %v\n", phase, byReactor)
	return timeouts, retries
}
