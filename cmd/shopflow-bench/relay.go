package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/kafka"
)

// benchRelayDrain compares the relay draining a backlog with raw franz-go produce of the same
// records (same envelope) to a fresh topic, twice: with the relay's producer settings
// (eventstore.RelayProducerOpts: manual flushing, which needs a flush every so many records;
// the raw producer flushes every relay batch size), and streaming with ProducerOpts, no
// flushes at all: the fastest raw produce, which the relay's ordering guarantee rules out.
func benchRelayDrain(ctx context.Context, o options) error {
	pool, cleanup, err := freshDatabase(ctx, o, 4)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := preload(ctx, pool, o.backlog); err != nil {
		return err
	}
	batch := o.batch
	if batch == 0 {
		batch = eventstore.DefaultRelayBatchSize
	}
	raw, err := rawProduce(ctx, o, pool, eventstore.RelayProducerOpts(), batch)
	if err != nil {
		return fmt.Errorf("raw produce: %w", err)
	}
	streamed, err := rawProduce(ctx, o, pool, eventstore.ProducerOpts(), 0)
	if err != nil {
		return fmt.Errorf("raw produce: %w", err)
	}
	relayed, err := drain(ctx, o, pool)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	n := float64(o.backlog)
	report(fmt.Sprintf("relay_drain_%d", o.backlog), n/relayed.Seconds(), "events/s", n/raw.Seconds())
	report(fmt.Sprintf("relay_drain_%d_vs_streaming_produce", o.backlog), n/relayed.Seconds(), "events/s", n/streamed.Seconds())
	return nil
}

// preload copies n OrderPlaced events (1,000 streams) in transactions of 10,000 rows.
func preload(ctx context.Context, pool *pgxpool.Pool, n int) error {
	return preloadAs(ctx, pool, n, "order", "OrderPlaced")
}

// preloadAs is preload with another stream and event type.
func preloadAs(ctx context.Context, pool *pgxpool.Pool, n int, streamType, eventType string) error {
	cols := []string{"stream_id", "stream_type", "version", "event_id", "event_type", "payload", "metadata"}
	meta, _ := json.Marshal(metadata)
	for done := 0; done < n; {
		chunk := min(10_000, n-done)
		rows := make([][]any, chunk)
		for i := range rows {
			k := done + i
			rows[i] = []any{fmt.Sprintf("%s-%d", streamType, k%1000), streamType, int64(k/1000 + 1), uuid.Must(uuid.NewV7()),
				eventType, string(payload), string(meta)}
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"events"}, cols, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("preload: %w", err)
		}
		done += chunk
	}
	return nil
}

func drain(ctx context.Context, o options, pool *pgxpool.Pool) (time.Duration, error) {
	topic, drop, err := freshTopic(ctx, o, "bench_relay")
	if err != nil {
		return 0, err
	}
	defer drop()
	producer, err := kafka.NewClient(o.cfg.KafkaBrokers, eventstore.RelayProducerOpts()...)
	if err != nil {
		return 0, err
	}
	defer producer.Close()
	var published atomic.Int64
	done := make(chan struct{})
	relay, err := eventstore.NewRelay(pool, producer, eventstore.RelayConfig{Topic: topic, BatchSize: o.batch,
		OnPublished: func(b []eventstore.Published) {
			if published.Add(int64(len(b))) == int64(o.backlog) {
				close(done)
			}
		}})
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	go func() { _ = relay.Run(rctx) }()
	select {
	case <-done:
		return time.Since(start), nil
	case <-time.After(10 * time.Minute):
		return 0, fmt.Errorf("relay published %d of %d in 10 minutes", published.Load(), o.backlog)
	}
}

// rawProduce reads the same events (untimed), then times producing their records with opts,
// flushing after every flushEvery records (0: never).
func rawProduce(ctx context.Context, o options, pool *pgxpool.Pool, opts []kgo.Opt, flushEvery int) (time.Duration, error) {
	topic, drop, err := freshTopic(ctx, o, "bench_raw")
	if err != nil {
		return 0, err
	}
	defer drop()
	recs, err := loadRecords(ctx, pool, topic)
	if err != nil {
		return 0, err
	}
	producer, err := kafka.NewClient(o.cfg.KafkaBrokers, opts...)
	if err != nil {
		return 0, err
	}
	defer producer.Close()
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for i, r := range recs {
		wg.Add(1)
		producer.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
			wg.Done()
		})
		if flushEvery > 0 && ((i+1)%flushEvery == 0 || i == len(recs)-1) {
			if err := producer.Flush(ctx); err != nil {
				return 0, err
			}
		}
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func loadRecords(ctx context.Context, pool *pgxpool.Pool, topic string) ([]*kgo.Record, error) {
	store := eventstore.New(pool)
	defer store.Close()
	var recs []*kgo.Record
	var cur eventstore.Cursor
	for {
		evs, next, err := store.ReadAll(ctx, cur, 10_000)
		if err != nil || len(evs) == 0 {
			return recs, err
		}
		for _, e := range evs {
			r, err := eventstore.EnvelopeOf(e).Record(topic)
			if err != nil {
				return nil, err
			}
			recs = append(recs, r)
		}
		cur = next
	}
}
