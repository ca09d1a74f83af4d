package sagas

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/testenv"
)

// downStore fails every write while down is set, like a database that went away.
type downStore struct {
	command.EventStore
	mu   sync.Mutex
	down bool
}

func (s *downStore) Write(ctx context.Context, w eventstore.Write) (map[string]int64, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, errors.New("connection refused")
	}
	return s.EventStore.Write(ctx, w)
}

// TestReactorRetriesWithoutCommitting runs the inventory reactor against a database that
// fails every write: the OrderPlaced message is retried with backoff and its offset is not
// committed. A second member joins the group and the first one stops: the message is
// processed exactly once, by the second, and only then committed.
func TestReactorRetriesWithoutCommitting(t *testing.T) {
	store := testStore(t)
	reg := must(command.NewRegisterProductHandler(store, command.Config{}))(t)
	product := must(reg.Handle(context.Background(), command.RegisterProduct{SKU: "S", Name: "N", PriceCents: 100,
		Currency: "EUR", InitialStock: 5}, command.Options{}))(t)
	topics := testenv.Topics(t, 1, "orders_events", "payments_events", "inventory_dlt")
	cfg := Config{
		Brokers: testenv.Config(t).KafkaBrokers, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		ClientOpts: []kgo.Opt{kgo.HeartbeatInterval(200 * time.Millisecond)},
		Orders:     ContextConfig{EventsTopic: topics[0]},
		Payments:   ContextConfig{EventsTopic: topics[1]},
		Inventory:  ContextConfig{DeadLetterTopic: topics[2], Group: testenv.Name("inventory_saga")},
	}
	failing := &downStore{EventStore: store, down: true}
	a := must(newInventoryReactor(cfg, failing))(t)
	stopA := runReactor(t, a)

	orderID := uuid.NewString()
	placed := record(t, order.OrderPlaced{OrderID: orderID, CustomerID: uuid.NewString(), PlacedAt: time.Now(),
		Lines: []order.Line{{ProductID: product.ID, Quantity: 2}}}, "order-"+orderID)
	placed.Topic = topics[0]
	producer := testenv.Kafka(t, eventstore.ProducerOpts()...)
	if err := producer.ProduceSync(context.Background(), placed).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retries", func() bool { return testutil.ToFloat64(a.metrics.retries) >= 5 })
	adm := kadm.NewClient(testenv.Kafka(t))
	if committed(t, adm, cfg.Inventory.Group, topics[0]) > 0 {
		t.Fatal("offset committed while the message was failing")
	}

	b := must(newInventoryReactor(cfg, store))(t)
	runReactor(t, b)
	time.Sleep(500 * time.Millisecond) // let b join, so a's partitions move at once
	stopA()
	reservations := must(command.NewRepository(store, command.ReservationType(), command.Config{}))(t)
	waitFor(t, "the reservation", func() bool {
		return must(reservations.Load(context.Background(), orderID))(t).Status() == inventory.ReservationReserved
	})
	waitFor(t, "the commit", func() bool { return committed(t, adm, cfg.Inventory.Group, topics[0]) == 1 })
	products := must(command.NewRepository(store, command.ProductType(), command.Config{}))(t)
	if p := must(products.Load(context.Background(), product.ID))(t); p.Available() != 3 || p.Reserved() != 2 {
		t.Errorf("stock %d available, %d reserved; want 3, 2", p.Available(), p.Reserved())
	}
}

// runReactor runs r until the returned stop is called or the test ends.
func runReactor(t testing.TB, r *Reactor) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// committed returns the group's committed offset of partition 0 of topic (0: none).
func committed(t testing.TB, adm *kadm.Client, group, topic string) int64 {
	t.Helper()
	offsets := must(adm.FetchOffsets(context.Background(), group))(t)
	o, ok := offsets.Lookup(topic, 0)
	if !ok {
		return 0
	}
	return o.At
}

// waitFor polls cond until it holds, failing after 30 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
