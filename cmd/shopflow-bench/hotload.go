package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
)

// hotLoadEvents is the length of the hot product's stream.
const hotLoadEvents = 1_000_000

// benchHotLoad measures a cold load — a repository that keeps nothing yet, as after a
// restart — of a product whose stream holds a million events against one of ten, on a
// fresh inventory-like database:
//
//   - hot_load_1000000_events_replay: the first load, which reads the whole stream (the
//     only way before snapshots) and takes the snapshot;
//   - hot_load_1000000_events: loads from that snapshot (median of 21);
//   - hot_load_1000000_events_tail_<N-1>: the same product once SnapshotEvery-1 more
//     events arrived, the longest tail a load reads before the next snapshot is due.
//
// The baseline of each is the median cold load of the ten-event product.
func benchHotLoad(ctx context.Context, o options) error {
	pool, cleanup, err := freshDatabase(ctx, o, 4)
	if err != nil {
		return err
	}
	defer cleanup()
	store := eventstore.New(pool)
	defer store.Close()
	hot, cold, err := hotLoadProducts(ctx, pool, store)
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := coldLoad(ctx, store, hot); err != nil {
		return err
	}
	replay := time.Since(start)
	base, err := medianLoad(ctx, store, cold, 21)
	if err != nil {
		return err
	}
	report(fmt.Sprintf("hot_load_%d_events_replay", hotLoadEvents), ms(replay), "ms", ms(base))
	if err := compareLoads(ctx, store, hot, cold, fmt.Sprintf("hot_load_%d_events", hotLoadEvents)); err != nil {
		return err
	}
	tail := int64(command.DefaultSnapshotEvery - 1)
	if err := appendSales(ctx, pool, hot, hotLoadEvents+tail); err != nil {
		return err
	}
	return compareLoads(ctx, store, hot, cold, fmt.Sprintf("hot_load_%d_events_tail_%d", hotLoadEvents, tail))
}

// hotLoadProducts registers the hot and the cold product and appends their histories.
func hotLoadProducts(ctx context.Context, pool *pgxpool.Pool, store *eventstore.Store) (hot, cold string, err error) {
	register, err := command.NewRegisterProductHandler(store, command.Config{})
	if err != nil {
		return "", "", err
	}
	for i, id := range []*string{&hot, &cold} {
		res, err := register.Handle(ctx, command.RegisterProduct{SKU: fmt.Sprintf("HOT-%d", i), Name: "Hot", PriceCents: 250,
			Currency: "EUR", InitialStock: 10}, command.Options{})
		if err != nil {
			return "", "", err
		}
		*id = res.ID
	}
	if err := appendSales(ctx, pool, hot, hotLoadEvents); err != nil {
		return "", "", err
	}
	return hot, cold, appendSales(ctx, pool, cold, 10)
}

// appendSales appends to product id's stream, in one INSERT … SELECT, until it holds events
// events: alternately a unit reserved for a new order and released (StockReserved,
// StockReleased), what a product selling for a long time accumulates.
func appendSales(ctx context.Context, pool *pgxpool.Pool, id string, events int64) error {
	_, err := pool.Exec(ctx, `
INSERT INTO events (stream_id, stream_type, version, event_id, event_type, payload)
SELECT $1, 'product', v, gen_random_uuid(),
       CASE WHEN v % 2 = 0 THEN 'StockReserved' ELSE 'StockReleased' END,
       CASE WHEN v % 2 = 0
            THEN json_build_object('product_id', $2::text, 'order_id', 'o-' || v, 'quantity', 1, 'unit_price_cents', 250)
            ELSE json_build_object('product_id', $2::text, 'order_id', 'o-' || (v - 1), 'quantity', 1) END
FROM generate_series((SELECT max(version) + 1 FROM events WHERE stream_id = $1), $3::bigint) AS v`,
		command.StreamID("product", id), id, events)
	if err != nil {
		return fmt.Errorf("append history of product %s: %w", id, err)
	}
	_, err = pool.Exec(ctx, `ANALYZE events`)
	return err
}

// compareLoads reports the median cold load of hot against that of cold, interleaved after
// a warm-up.
func compareLoads(ctx context.Context, store *eventstore.Store, hot, cold, name string) error {
	for range 5 {
		if _, err := coldLoad(ctx, store, hot); err != nil {
			return err
		}
		if _, err := coldLoad(ctx, store, cold); err != nil {
			return err
		}
	}
	var hots, colds []time.Duration
	for range 21 {
		h, err := coldLoad(ctx, store, hot)
		if err != nil {
			return err
		}
		c, err := coldLoad(ctx, store, cold)
		if err != nil {
			return err
		}
		hots, colds = append(hots, h), append(colds, c)
	}
	report(name, ms(medianOf(hots)), "ms", ms(medianOf(colds)))
	return nil
}

// medianLoad returns the median of n cold loads of product id.
func medianLoad(ctx context.Context, store *eventstore.Store, id string, n int) (time.Duration, error) {
	ds := make([]time.Duration, n)
	for i := range ds {
		d, err := coldLoad(ctx, store, id)
		if err != nil {
			return 0, err
		}
		ds[i] = d
	}
	return medianOf(ds), nil
}

// coldLoad loads product id with a repository of its own, which keeps nothing yet.
func coldLoad(ctx context.Context, store *eventstore.Store, id string) (time.Duration, error) {
	repo, err := command.NewRepository(store, command.ProductType(), command.Config{})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := repo.Load(ctx, id); err != nil {
		return 0, fmt.Errorf("load product %s: %w", id, err)
	}
	return time.Since(start), nil
}

// medianOf returns the median of ds.
func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
