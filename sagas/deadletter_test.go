package sagas_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/sagas"
)

// TestSagaDeadLetters puts a garbage record and an event with an undecodable payload on the
// orders topic (one partition, so they sit in front of the next order): both go to the
// dead-letter topics of the reactors that consume it, with the error and their source in
// headers, and the order placed after them is still settled. A redrive re-publishes a
// dead letter to its source topic, where it fails again.
func TestSagaDeadLetters(t *testing.T) {
	w := newWorld(t, worldOpts{partitions: 1})
	w.start()
	producer := testenv.Kafka(t, eventstore.ProducerOpts()...)
	garbage := &kgo.Record{Topic: w.topic(sagas.Orders), Key: []byte("garbage"), Value: []byte("not an envelope")}
	bad := badPayload(t, w.topic(sagas.Orders))
	if err := producer.ProduceSync(ctx(t), garbage, bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p, c := w.newProduct(100, 10), w.newCustomer(1_000)
	w.waitStatus(w.newOrder(c, p, 1), order.StatusConfirmed)

	letters := w.waitLetters(w.cfg.Inventory.DeadLetterTopic, 2)
	// Records of different orders are processed in lanes of their own, concurrently (see
	// lanes.go), so their letters may be parked in either order: compare by source offset.
	slices.SortFunc(letters, func(a, b sagas.DeadLetter) int { return cmp.Compare(a.SourceOffset, b.SourceOffset) })
	for i, d := range letters {
		if d.SourceTopic != w.topic(sagas.Orders) || d.SourcePartition != 0 || d.SourceOffset != int64(i) ||
			d.Reactor != sagas.Inventory || !strings.Contains(d.Error, "undecodable") || d.FailedAt.IsZero() {
			t.Errorf("dead letter %d: %+v", i, d)
		}
	}
	if string(letters[0].Value) != "not an envelope" || letters[1].EventType != order.TypeOrderPlaced {
		t.Errorf("dead letters hold %q and a %q", letters[0].Value, letters[1].EventType)
	}
	// Payments also consumes the orders topic, but does not react to OrderPlaced: only
	// the garbage is unprocessable there.
	if pl := w.waitLetters(w.cfg.Payments.DeadLetterTopic, 1); string(pl[0].Value) != "not an envelope" {
		t.Errorf("payments dead letter: %+v", pl[0])
	}
	if got := counter(t, w.reg, "shopflow_saga_dead_lettered_total", "reactor", sagas.Inventory); got != 2 {
		t.Errorf("inventory dead-lettered %v, want 2", got)
	}

	if err := sagas.Redrive(ctx(t), w.cfg.Brokers, letters[:1]); err != nil {
		t.Fatal(err)
	}
	again := w.waitLetters(w.cfg.Inventory.DeadLetterTopic, 3)[2]
	if again.SourceOffset <= 2 || string(again.Value) != "not an envelope" {
		t.Errorf("redriven letter: %+v", again)
	}
	w.waitStatus(w.newOrder(c, p, 1), order.StatusConfirmed)
}

// badPayload is an OrderPlaced envelope whose payload does not decode.
func badPayload(t testing.TB, topic string) *kgo.Record {
	t.Helper()
	id := uuid.NewString()
	env := eventstore.Envelope{EventID: uuid.New(), EventType: order.TypeOrderPlaced, SchemaVersion: 1,
		StreamID: "order-" + id, StreamType: "order", Version: 1, RecordedAt: time.Now(),
		Payload: []byte(`{"order_id":"` + id + `","lines":"not a list"}`)}
	return must(env.Record(topic))(t)
}

// waitLetters waits until a dead-letter topic holds n letters and returns them.
func (w *world) waitLetters(topic string, n int) []sagas.DeadLetter {
	w.t.Helper()
	var letters []sagas.DeadLetter
	eventually(w.t, 30*time.Second, "dead letters in "+topic, func() bool {
		letters = must(sagas.ListDeadLetters(ctx(w.t), w.cfg.Brokers, topic))(w.t)
		return len(letters) >= n
	})
	if len(letters) != n {
		w.t.Fatalf("%d dead letters in %s, want %d", len(letters), topic, n)
	}
	return letters
}
