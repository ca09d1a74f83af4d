package eventstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/shopflow/shopflow/eventstore"
)

// A Kafka outage long enough to fail the producer's records makes the relay back off and
// resume at its cursor: nothing is lost and every stream stays in order. The broker is
// franz-go's kfake, because a real broker cannot be made to fail produce requests on cue;
// Postgres is real.
func TestRelayResumesAfterKafkaOutage(t *testing.T) {
	s, pool, _ := newStore(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "events"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	var down atomic.Bool
	var refused atomic.Int64
	down.Store(true)
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if !down.Load() {
			return nil, nil, false
		}
		refused.Add(1)
		return refuseProduce(req.(*kmsg.ProduceRequest)), nil, true
	})
	// Fail records fast, so that the relay's own backoff runs.
	runKfakeRelay(t, pool, cluster, kgo.RecordRetries(2), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.MetadataMinAge(50*time.Millisecond))

	heads := map[string]int64{}
	for i := range 200 {
		stream := fmt.Sprintf("s-%d", i%10)
		v, err := s.Append(context.Background(), stream, "t", heads[stream], ev("E", i))
		if err != nil {
			t.Fatal(err)
		}
		heads[stream] = v
	}
	waitFor(t, func() bool { return refused.Load() >= 3 }) // records failed at least once
	time.Sleep(2 * time.Second)                            // an outage longer than the delivery timeout
	down.Store(false)

	checkOrder(t, consumeWith(t, kfakeConsumer(t, cluster), 200, 30*time.Second), heads, true)
	if n := refused.Load(); n < 3 {
		t.Fatalf("only %d produce requests refused: the outage was not exercised", n)
	}
}

// A batch Kafka refuses for good (a non-retriable error) fails every record the producer
// buffers for that partition, and a record produced after that would start a new sequence
// and could land after the gap. The relay buffers a whole batch before flushing it, so no
// later event of a stream is ever published ahead of a refused one: after the refusal the
// relay restarts at its cursor and every stream arrives in order. One partition holds every
// stream, and the first produce request is refused.
func TestRelayPublishesNothingPastARefusedBatch(t *testing.T) {
	s, pool, _ := newStore(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	var refused atomic.Int64
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		refused.Add(1) // once: a control that handles a request is dropped
		return answerProduce(req.(*kmsg.ProduceRequest), kerr.InvalidRecord), nil, true
	})
	const streams, events = 10, 5000
	heads := map[string]int64{}
	for i := range events / streams {
		var w eventstore.Write
		for j := range streams {
			stream := fmt.Sprintf("s-%d", j)
			w.Appends = append(w.Appends, eventstore.StreamAppend{StreamID: stream, StreamType: "t",
				ExpectedVersion: heads[stream], Events: []eventstore.EventData{ev("E", i)}})
			heads[stream]++
		}
		if _, err := s.Write(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	runKfakeRelay(t, pool, cluster, kgo.ProducerBatchMaxBytes(4<<10)) // several requests per batch
	checkOrder(t, consumeWith(t, kfakeConsumer(t, cluster), events, 30*time.Second), heads, true)
	if refused.Load() != 1 {
		t.Fatalf("%d produce requests refused, want 1", refused.Load())
	}
}

// TestRelayRefusesASharedProducer: a producer without manual flushing (shared, or built with
// ProducerOpts) cannot give the relay its ordering guarantee.
func TestRelayRefusesASharedProducer(t *testing.T) {
	producer, err := kgo.NewClient(append(eventstore.ProducerOpts(), kgo.SeedBrokers("127.0.0.1:1"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if _, err := eventstore.NewRelay(nil, producer, eventstore.RelayConfig{Topic: "events"}); err == nil {
		t.Fatal("NewRelay accepted a producer without manual flushing")
	}
}

// runKfakeRelay runs, until the test ends, a relay of pool's events to the cluster's topic
// "events", its producer built with RelayProducerOpts and opts.
func runKfakeRelay(t *testing.T, pool *pgxpool.Pool, cluster *kfake.Cluster, opts ...kgo.Opt) {
	t.Helper()
	producer, err := kgo.NewClient(append(append(eventstore.RelayProducerOpts(), kgo.SeedBrokers(cluster.ListenAddrs()...)), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	relay, err := eventstore.NewRelay(pool, producer, eventstore.RelayConfig{Topic: "events", MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// kfakeConsumer returns a client reading the cluster's topic "events" from the start.
func kfakeConsumer(t *testing.T, cluster *kfake.Cluster) *kgo.Client {
	t.Helper()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(consumer.Close)
	return consumer
}

// answerProduce answers every partition of a produce request with the error.
func answerProduce(req *kmsg.ProduceRequest, err *kerr.Error) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = err.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// refuseProduce answers every partition of a produce request with NOT_ENOUGH_REPLICAS, a
// retriable error: after the producer's retries the records fail back to the relay.
func refuseProduce(req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	return answerProduce(req, kerr.NotEnoughReplicas)
}
