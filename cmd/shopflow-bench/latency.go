package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/kafka"
)

// benchLatency measures commit→Kafka-ack latency at a steady rate: appends paced at o.rate
// events/s through the store with the relay running, against raw ProduceSync of the same
// record at the same rate (the broker's own ack latency).
func benchLatency(ctx context.Context, o options) error {
	relayLat, err := relayLatency(ctx, o)
	if err != nil {
		return err
	}
	rawLat, err := produceLatency(ctx, o)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("commit_to_ack_%dps", o.rate)
	report(name+"_p50", percentile(relayLat, 50), "ms", percentile(rawLat, 50))
	report(name+"_p99", percentile(relayLat, 99), "ms", percentile(rawLat, 99))
	return nil
}

// paced calls fn(i) o.rate times per second for o.duration, spread over 8 workers.
func paced(ctx context.Context, o options, fn func(worker, i int) error) error {
	const workers = 8
	interval := time.Duration(float64(time.Second) * workers / float64(o.rate))
	deadline := time.Now().Add(o.duration)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			next := time.Now().Add(time.Duration(w) * interval / workers)
			for i := 0; next.Before(deadline) && ctx.Err() == nil; i++ {
				time.Sleep(time.Until(next))
				next = next.Add(interval)
				if errs[w] = fn(w, i); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

func relayLatency(ctx context.Context, o options) ([]time.Duration, error) {
	pool, cleanup, err := freshDatabase(ctx, o, 12)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	topic, drop, err := freshTopic(ctx, o, "bench_latency")
	if err != nil {
		return nil, err
	}
	defer drop()
	producer, err := kafka.NewClient(o.cfg.KafkaBrokers, eventstore.RelayProducerOpts()...)
	if err != nil {
		return nil, err
	}
	defer producer.Close()
	var mu sync.Mutex
	acked := map[string]time.Time{}
	relay, err := eventstore.NewRelay(pool, producer, eventstore.RelayConfig{Topic: topic,
		OnPublished: func(b []eventstore.Published) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, e := range b {
				acked[e.EventID] = now
			}
		}})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = relay.Run(rctx) }()
	store := eventstore.New(pool)
	defer store.Close()
	var cmu sync.Mutex
	committed := map[uuid.UUID]time.Time{}
	err = paced(ctx, o, func(w, i int) error {
		id := uuid.Must(uuid.NewV7())
		_, err := store.Append(ctx, fmt.Sprintf("order-%d-%d", w, i/50), "order", int64(i%50),
			eventstore.EventData{ID: id, Type: "OrderPlaced", Payload: payload, Metadata: metadata})
		cmu.Lock()
		committed[id] = time.Now()
		cmu.Unlock()
		return err
	})
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second) // let the last events be acknowledged
	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	for id, c := range committed {
		a, ok := acked[id.String()]
		if !ok {
			return nil, fmt.Errorf("event %s committed but not published after 1s", id)
		}
		lat = append(lat, max(a.Sub(c), 0))
	}
	return lat, nil
}

func produceLatency(ctx context.Context, o options) ([]time.Duration, error) {
	topic, drop, err := freshTopic(ctx, o, "bench_latency_raw")
	if err != nil {
		return nil, err
	}
	defer drop()
	producer, err := kafka.NewClient(o.cfg.KafkaBrokers, eventstore.ProducerOpts()...)
	if err != nil {
		return nil, err
	}
	defer producer.Close()
	var mu sync.Mutex
	var lat []time.Duration
	err = paced(ctx, o, func(w, i int) error {
		rec := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "order-%d-%d", w, i/50), Value: payload}
		t0 := time.Now()
		if err := producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
			return err
		}
		mu.Lock()
		lat = append(lat, time.Since(t0))
		mu.Unlock()
		return nil
	})
	return lat, err
}
