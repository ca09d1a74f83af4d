package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/shopflow/eventstore"
)

// payload is a realistic OrderPlaced-sized event body (~230 bytes).
var payload = json.RawMessage(`{"order_id":"0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b70","customer_id":"0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b71","lines":[{"product_id":"0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b72","quantity":2}],"placed_at":"2026-11-25T18:00:00Z"}`)

var metadata = eventstore.Metadata{CorrelationID: "0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b73"}

// appendFunc appends the next event of writer w's stream, which is at version v.
type appendFunc func(ctx context.Context, w int, v int64) error

// benchAppend compares Store.Append with raw pgx transactions inserting the same event row,
// at each concurrency, each side on a fresh database.
func benchAppend(ctx context.Context, o options) error {
	for _, n := range o.concurrency {
		raw, err := runAppend(ctx, o, n, rawAppend)
		if err != nil {
			return fmt.Errorf("raw at %d: %w", n, err)
		}
		store, err := runAppend(ctx, o, n, storeAppend)
		if err != nil {
			return fmt.Errorf("store at %d: %w", n, err)
		}
		report(fmt.Sprintf("append_throughput_c%d", n), store.rate, "events/s", raw.rate)
		report(fmt.Sprintf("append_latency_p50_c%d", n), percentile(store.lat, 50), "ms", percentile(raw.lat, 50))
		report(fmt.Sprintf("append_latency_p99_c%d", n), percentile(store.lat, 99), "ms", percentile(raw.lat, 99))
	}
	return nil
}

type appendResult struct {
	rate float64
	lat  []time.Duration
}

func storeAppend(pool *pgxpool.Pool) (appendFunc, func()) {
	s := eventstore.New(pool)
	return func(ctx context.Context, w int, v int64) error {
		_, err := s.Append(ctx, fmt.Sprintf("order-%d", w), "order", v,
			eventstore.EventData{Type: "OrderPlaced", Payload: payload, Metadata: metadata})
		return err
	}, s.Close
}

// rawAppend is the baseline: the same row in a plain transaction, no checks, no notify.
func rawAppend(pool *pgxpool.Pool) (appendFunc, func()) {
	meta, _ := json.Marshal(metadata)
	return func(ctx context.Context, w int, v int64) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, `INSERT INTO events (stream_id, stream_type, version, event_id, event_type,
			schema_version, payload, metadata) VALUES ($1, 'order', $2, $3, 'OrderPlaced', 1, $4, $5)`,
			fmt.Sprintf("order-%d", w), v+1, uuid.Must(uuid.NewV7()), string(payload), string(meta))
		if err != nil {
			return err
		}
		return tx.Commit(ctx)
	}, func() {}
}

func runAppend(ctx context.Context, o options, writers int, mk func(*pgxpool.Pool) (appendFunc, func())) (appendResult, error) {
	pool, cleanup, err := freshDatabase(ctx, o, writers+2)
	if err != nil {
		return appendResult{}, err
	}
	defer cleanup()
	do, closeFn := mk(pool)
	defer closeFn()
	lats := make([][]time.Duration, writers)
	errs := make([]error, writers)
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for v := int64(0); time.Now().Before(deadline); v++ {
				t0 := time.Now()
				if errs[w] = do(ctx, w, v); errs[w] != nil {
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for w := range writers {
		if errs[w] != nil {
			return appendResult{}, errs[w]
		}
		all = append(all, lats[w]...)
	}
	return appendResult{rate: float64(len(all)) / elapsed.Seconds(), lat: all}, nil
}
