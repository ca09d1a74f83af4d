package eventstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/config"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/postgres"
	"github.com/shopflow/shopflow/internal/testenv"
)

// TestMain doubles as the relay process of the crash test: with SHOPFLOW_TEST_RELAY_DB set,
// the test binary runs a relay until it is killed.
func TestMain(m *testing.M) {
	if db := os.Getenv("SHOPFLOW_TEST_RELAY_DB"); db != "" {
		runRelayChild(db, os.Getenv("SHOPFLOW_TEST_RELAY_TOPIC"))
		return
	}
	os.Exit(m.Run())
}

func runRelayChild(db, topic string) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, db)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	producer, err := kafka.NewClient(cfg.KafkaBrokers, eventstore.RelayProducerOpts()...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	relay, err := eventstore.NewRelay(pool, producer, eventstore.RelayConfig{Topic: topic, BatchSize: 100, StandbyPoll: 50 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = relay.Run(ctx)
}

// startRelay runs a relay for topic in the background until the test ends (or stop is called).
func startRelay(t *testing.T, pool *pgxpool.Pool, topic string, cfg eventstore.RelayConfig) (stop func()) {
	t.Helper()
	producer := testenv.Kafka(t, eventstore.RelayProducerOpts()...)
	cfg.Topic = topic
	relay, err := eventstore.NewRelay(pool, producer, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// published is what a consumer saw of one stream, in partition order.
type published map[string][]int64

// consume reads topic from the start until want distinct (stream, version) pairs arrived.
func consume(t *testing.T, topic string, want int, timeout time.Duration) published {
	t.Helper()
	return consumeWith(t, testenv.Kafka(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), want, timeout)
}

// consumeWith polls cl (already consuming the topic from the start) until want distinct
// (stream, version) pairs arrived.
func consumeWith(t *testing.T, cl *kgo.Client, want int, timeout time.Duration) published {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got := published{}
	distinct := map[string]bool{}
	for len(distinct) < want {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d distinct events before the timeout", len(distinct), want)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			env, err := eventstore.Decode(r, nil)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got[env.StreamID] = append(got[env.StreamID], env.Version)
			distinct[fmt.Sprintf("%s/%d", env.StreamID, env.Version)] = true
		})
	}
	return got
}

// checkOrder verifies that every stream's versions 1..n arrived and that each version first
// arrived after all earlier ones: duplicates (re-deliveries) are allowed only when dupes is
// true, and must then replay versions already seen.
func checkOrder(t *testing.T, got published, heads map[string]int64, dupes bool) {
	t.Helper()
	if len(got) != len(heads) {
		t.Errorf("got %d streams, want %d", len(got), len(heads))
	}
	for stream, head := range heads {
		var seen int64
		for _, v := range got[stream] {
			switch {
			case v == seen+1:
				seen = v
			case v <= seen && dupes:
			default:
				t.Fatalf("stream %s: version %d arrived after %d (sequence %v)", stream, v, seen, got[stream])
			}
		}
		if seen != head {
			t.Errorf("stream %s: last version %d, want %d", stream, seen, head)
		}
	}
}

// writeRaw appends one event in a transaction held open for hold: it takes its position (and
// transaction id) early and commits late, after later transactions have committed.
func writeRaw(ctx context.Context, pool *pgxpool.Pool, stream string, version int64, hold time.Duration) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `INSERT INTO events (stream_id, stream_type, version, event_id, event_type, payload)
		VALUES ($1, 'slow', $2, gen_random_uuid(), 'Slow', '{}')`, stream, version)
	if err != nil {
		return err
	}
	time.Sleep(hold)
	return tx.Commit(ctx)
}

// Writers whose commits interleave — some hold their transaction (and its early position)
// open while later ones commit — must all be published, each stream in order.
func TestRelayGapSafety(t *testing.T) {
	s, pool, _ := newStore(t)
	topic := testenv.Topics(t, 3, "relay_gaps")[0]
	startRelay(t, pool, topic, eventstore.RelayConfig{BatchSize: 50})
	ctx := context.Background()
	const fast, slow, perWriter = 12, 4, 40
	heads := map[string]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range fast + slow {
		stream := fmt.Sprintf("stream-%d", w)
		wg.Go(func() {
			for v := int64(1); v <= perWriter; v++ {
				var err error
				if w < fast {
					_, err = s.Append(ctx, stream, "fast", v-1, ev("Fast", int(v)))
				} else {
					err = writeRaw(ctx, pool, stream, v, time.Duration(rand.IntN(30))*time.Millisecond)
				}
				if err != nil {
					t.Errorf("%s v%d: %v", stream, v, err)
					return
				}
			}
			mu.Lock()
			heads[stream] = perWriter
			mu.Unlock()
		})
	}
	wg.Wait()
	got := consume(t, topic, (fast+slow)*perWriter, 60*time.Second)
	checkOrder(t, got, heads, false)
}

// Two relays on one database: one publishes, the other stands by and takes over when the
// first stops, resuming at the cursor.
func TestRelayStandbyTakesOver(t *testing.T) {
	s, pool, _ := newStore(t)
	topic := testenv.Topics(t, 3, "relay_standby")[0]
	vecs := eventstore.NewRelayMetricVecs(nil)
	ma, mb := vecs.For("a"), vecs.For("b")
	stopA := startRelay(t, pool, topic, eventstore.RelayConfig{Name: "orders", StandbyPoll: 50 * time.Millisecond, Metrics: ma})
	waitFor(t, func() bool { return testutil.ToFloat64(ma.Active) == 1 })
	startRelay(t, pool, topic, eventstore.RelayConfig{Name: "orders", StandbyPoll: 50 * time.Millisecond, Metrics: mb})
	ctx := context.Background()
	heads := map[string]int64{}
	appendN := func(from, to int) {
		for i := from; i < to; i++ {
			stream := fmt.Sprintf("s-%d", i%10)
			v, err := s.Append(ctx, stream, "t", heads[stream], ev("E", i))
			if err != nil {
				t.Fatal(err)
			}
			heads[stream] = v
		}
	}
	appendN(0, 100)
	consume(t, topic, 100, 30*time.Second)
	if a, b := testutil.ToFloat64(ma.Active), testutil.ToFloat64(mb.Active); a != 1 || b != 0 {
		t.Fatalf("active: a=%v b=%v, want only a", a, b)
	}
	stopA()
	waitFor(t, func() bool { return testutil.ToFloat64(mb.Active) == 1 })
	appendN(100, 200)
	checkOrder(t, consume(t, topic, 200, 30*time.Second), heads, false)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill -9 the relay process at random points under load, restart it, repeat: nothing is
// lost and every stream stays in order; only re-deliveries of already published versions
// may appear.
func TestRelaySurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills relay processes")
	}
	s, _, url := newStore(t)
	topic := testenv.Topics(t, 3, "relay_kill")[0]
	ctx, cancel := context.WithCancel(context.Background())
	heads := map[string]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			stream := "stream-" + strconv.Itoa(w)
			for v := int64(1); ctx.Err() == nil; v++ {
				if _, err := s.Append(context.Background(), stream, "t", v-1, ev("E", int(v))); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				heads[stream] = v
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}
	for round := range 8 {
		child := startRelayChild(t, url, topic)
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("round %d: kill: %v", round, err)
		}
		_ = child.Wait()
	}
	cancel()
	wg.Wait()
	child := startRelayChild(t, url, topic)
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	total := 0
	for _, h := range heads {
		total += int(h)
	}
	if total < 100 {
		t.Fatalf("only %d events written; the test did not load the relay", total)
	}
	checkOrder(t, consume(t, topic, total, 60*time.Second), heads, true)
}

func startRelayChild(t *testing.T, db, topic string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SHOPFLOW_TEST_RELAY_DB="+db, "SHOPFLOW_TEST_RELAY_TOPIC="+topic)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// The relay's envelopes are encoded by Postgres; they must decode to exactly what
// EnvelopeOf gives for the stored event, headers included.
func TestRelayEnvelopeMatchesEnvelopeOf(t *testing.T) {
	s, pool, _ := newStore(t)
	topic := testenv.Topics(t, 1, "relay_envelope")[0]
	ctx := context.Background()
	e := ev("Opened", 1)
	e.Payload = []byte(`{"name":"Zoë \"Z\" <z@example.com>","n":1.5,"nested":{"a":[1,2]}}`)
	e.Metadata = eventstore.Metadata{CorrelationID: "c", CausationID: "d", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", TraceState: "k=v", Extra: map[string]string{"x": "y"}}
	if _, err := s.Append(ctx, "acc-1", "account", 0, e); err != nil {
		t.Fatal(err)
	}
	startRelay(t, pool, topic, eventstore.RelayConfig{})
	cl := testenv.Kafka(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rec *kgo.Record
	for rec == nil && cctx.Err() == nil {
		cl.PollFetches(cctx).EachRecord(func(r *kgo.Record) { rec = r })
	}
	if rec == nil {
		t.Fatal("nothing published")
	}
	stored, err := s.Load(ctx, "acc-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := eventstore.EnvelopeOf(stored[0]).Record(topic)
	if err != nil {
		t.Fatal(err)
	}
	got, err := eventstore.Decode(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantEnv, err := eventstore.Decode(want, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !got.RecordedAt.Equal(wantEnv.RecordedAt) {
		t.Errorf("recorded_at %v, want %v", got.RecordedAt, wantEnv.RecordedAt)
	}
	got.RecordedAt, wantEnv.RecordedAt = time.Time{}, time.Time{}
	var gp, wp any
	_ = json.Unmarshal(got.Payload, &gp)
	_ = json.Unmarshal(wantEnv.Payload, &wp)
	if !reflect.DeepEqual(gp, wp) {
		t.Errorf("payload %s, want %s", got.Payload, wantEnv.Payload)
	}
	got.Payload, wantEnv.Payload = nil, nil
	if !reflect.DeepEqual(got, wantEnv) {
		t.Errorf("envelope\n got %+v\nwant %+v", got, wantEnv)
	}
	if !reflect.DeepEqual(rec.Headers, want.Headers) || string(rec.Key) != string(want.Key) {
		t.Errorf("headers/key\n got %q %v\nwant %q %v", rec.Key, rec.Headers, want.Key, want.Headers)
	}
}
