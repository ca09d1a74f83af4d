package sagas

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/testenv"
)

// These tests call a reactor's reaction directly with hand-made records, on a real
// database and without Kafka, to deliver messages in the orders the topics cannot
// guarantee: across topics, anything goes.

// testStore returns an event store on a fresh migrated database.
func testStore(t testing.TB) *eventstore.Store {
	t.Helper()
	return testenv.NewEventStore(t).Store
}

// testConfig is a valid configuration that the reactions tests never connect with.
func testConfig() Config { return Config{Brokers: []string{"127.0.0.1:1"}} }

// record wraps an event as the relay publishes it.
func record(t testing.TB, e domain.Event, streamID string) *kgo.Record {
	t.Helper()
	name, payload, err := domain.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	env := eventstore.Envelope{EventID: uuid.Must(uuid.NewV7()), EventType: name, SchemaVersion: domain.SchemaVersionOf(e), StreamID: streamID,
		StreamType: "test", Version: 1, RecordedAt: time.Now(), Payload: payload}
	rec, err := env.Record("test.events")
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// react runs a reaction and checks its outcome.
func react(t testing.TB, r *Reactor, rec *kgo.Record, want string) {
	t.Helper()
	got, err := r.react(context.Background(), rec)
	if err != nil || got != want {
		t.Fatalf("react %s = %q, %v; want %q", rec.Headers, got, err, want)
	}
}

// must returns v, failing the test on err: must(f())(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestOrdersConfirmInEitherOrder delivers the capture before the priced lines: the
// settlement stream keeps the capture and the priced lines confirm the order. Every
// message delivered again is a duplicate.
func TestOrdersConfirmInEitherOrder(t *testing.T) {
	store := testStore(t)
	r := must(newOrdersReactor(testConfig(), store))(t)
	place := must(command.NewPlaceOrderHandler(store, command.Config{}))(t)
	customer, product := uuid.NewString(), uuid.NewString()
	placed := must(place.Handle(context.Background(), command.PlaceOrder{CustomerID: customer,
		Lines: []order.Line{{ProductID: product, Quantity: 2}}}, command.Options{}))(t)
	captured := record(t, payment.PaymentCaptured{CustomerID: customer, OrderID: placed.ID, AmountCents: 600}, "account-"+customer)
	reserved := record(t, inventory.OrderStockReserved{OrderID: placed.ID, CustomerID: customer, Total: domain.Money{AmountCents: 600, Currency: "EUR"},
		Lines: []inventory.ReservedLine{{ProductID: product, SKU: "S", Name: "N", Quantity: 2, UnitPriceCents: 300}}},
		"order_reservation-"+placed.ID)

	react(t, r, captured, OutcomeApplied)
	orders := must(command.NewRepository(store, command.OrderType(), command.Config{}))(t)
	if o := must(orders.Load(context.Background(), placed.ID))(t); o.Status() != order.StatusPending {
		t.Fatalf("confirmed without priced lines: %s", o.Status())
	}
	react(t, r, reserved, OutcomeApplied)
	o := must(orders.Load(context.Background(), placed.ID))(t)
	if o.Status() != order.StatusConfirmed || o.TotalCents() != 600 {
		t.Fatalf("order %s total %d, want confirmed 600", o.Status(), o.TotalCents())
	}
	react(t, r, captured, OutcomeDuplicate)
	react(t, r, reserved, OutcomeDuplicate)
	late := record(t, payment.PaymentDeclined{CustomerID: customer, OrderID: placed.ID, Reason: payment.ReasonInsufficientFunds}, "x")
	react(t, r, late, OutcomeNoop)
}

// TestOrdersRefuseCorruptInput dead-letters what can never be processed.
func TestOrdersRefuseCorruptInput(t *testing.T) {
	store := testStore(t)
	r := must(newOrdersReactor(testConfig(), store))(t)
	place := must(command.NewPlaceOrderHandler(store, command.Config{}))(t)
	customer, product := uuid.NewString(), uuid.NewString()
	placed := must(place.Handle(context.Background(), command.PlaceOrder{CustomerID: customer,
		Lines: []order.Line{{ProductID: product, Quantity: 2}}}, command.Options{}))(t)
	tests := map[string]*kgo.Record{
		"unknown order": record(t, payment.PaymentCaptured{CustomerID: customer, OrderID: uuid.NewString(), AmountCents: 1}, "a"),
		"no order id":   record(t, payment.PaymentDeclined{CustomerID: customer, Reason: payment.ReasonUnknownCustomer}, "a"),
		"bad reason":    record(t, payment.PaymentDeclined{CustomerID: customer, OrderID: placed.ID, Reason: "bored"}, "a"),
		"wrong lines": record(t, inventory.OrderStockReserved{OrderID: placed.ID, CustomerID: customer, Total: domain.Money{Currency: "EUR"},
			Lines: []inventory.ReservedLine{{ProductID: uuid.NewString(), SKU: "S", Name: "N", Quantity: 2}}}, "r"),
	}
	react(t, r, record(t, payment.PaymentCaptured{CustomerID: customer, OrderID: placed.ID, AmountCents: 0}, "a"), OutcomeApplied)
	for name, rec := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := r.react(context.Background(), rec); !IsPermanent(err) {
				t.Errorf("err = %v, want a permanent error", err)
			}
		})
	}
}

// TestInventoryReleaseBeforeReserve delivers the cancellation before the placement (they
// come from different reactors' points of view: PaymentDeclined{order_closed} can overtake
// OrderPlaced): nothing is ever reserved.
func TestInventoryReleaseBeforeReserve(t *testing.T) {
	store := testStore(t)
	r := must(newInventoryReactor(testConfig(), store))(t)
	reg := must(command.NewRegisterProductHandler(store, command.Config{}))(t)
	p := must(reg.Handle(context.Background(), command.RegisterProduct{SKU: "S", Name: "N", PriceCents: 100,
		Currency: "EUR", InitialStock: 5}, command.Options{}))(t)
	orderID, customer := uuid.NewString(), uuid.NewString()
	react(t, r, record(t, payment.PaymentDeclined{CustomerID: customer, OrderID: orderID, Reason: payment.ReasonOrderClosed}, "a"), OutcomeApplied)
	react(t, r, record(t, order.OrderPlaced{OrderID: orderID, CustomerID: customer, PlacedAt: time.Now(),
		Lines: []order.Line{{ProductID: p.ID, Quantity: 2}}}, "order-"+orderID), OutcomeNoop)
	products := must(command.NewRepository(store, command.ProductType(), command.Config{}))(t)
	if got := must(products.Load(context.Background(), p.ID))(t); got.Available() != 5 || got.Reserved() != 0 {
		t.Errorf("stock %d/%d after a release before the reservation", got.Available(), got.Reserved())
	}
}

// TestPaymentsRefundBeforeCapture delivers the cancellation before the capture request:
// the account declines the order as closed and ignores the capture.
func TestPaymentsRefundBeforeCapture(t *testing.T) {
	store := testStore(t)
	r := must(newPaymentsReactor(testConfig(), store))(t)
	open := must(command.NewOpenAccountHandler(store, command.Config{}))(t)
	deposit := must(command.NewDepositFundsHandler(store, command.Config{}))(t)
	acct := must(open.Handle(context.Background(), command.OpenAccount{Name: "A", Email: "a@b.c"}, command.Options{}))(t)
	must(deposit.Handle(context.Background(), command.DepositFunds{CustomerID: acct.ID, AmountCents: 1000}, command.Options{}))(t)
	orderID := uuid.NewString()
	react(t, r, record(t, order.OrderCancelled{OrderID: orderID, CustomerID: acct.ID, PreviousStatus: order.StatusPending}, "o"), OutcomeApplied)
	react(t, r, record(t, inventory.OrderStockReserved{OrderID: orderID, CustomerID: acct.ID, Total: domain.Money{AmountCents: 400, Currency: "EUR"},
		Lines: []inventory.ReservedLine{{ProductID: "p", SKU: "S", Name: "N", Quantity: 1, UnitPriceCents: 400}}}, "r"), OutcomeNoop)
	react(t, r, record(t, order.OrderRejected{OrderID: orderID, CustomerID: acct.ID, Reason: order.ReasonInsufficientStock}, "o"), OutcomeNoop)
	accounts := must(command.NewRepository(store, command.AccountType(), command.Config{}))(t)
	a := must(accounts.Load(context.Background(), acct.ID))(t)
	payments := must(command.NewRepository(store, command.OrderPaymentType(), command.Config{}))(t)
	pay := must(payments.Load(context.Background(), orderID))(t).Payment()
	if a.BalanceCents() != 1000 || pay.Reason != payment.ReasonOrderClosed {
		t.Errorf("balance %d, payment %+v", a.BalanceCents(), pay)
	}
	// A customer without an account is declined once, in the order's payment stream.
	stranger := uuid.NewString()
	rec := record(t, inventory.OrderStockReserved{OrderID: stranger, CustomerID: uuid.NewString(), Total: domain.Money{Currency: "EUR"},
		Lines: []inventory.ReservedLine{{ProductID: "p", SKU: "S", Name: "N", Quantity: 1}}}, "r")
	react(t, r, rec, OutcomeApplied)
	react(t, r, rec, OutcomeDuplicate)
	evs := must(store.Load(context.Background(), command.StreamID(payment.OrderPaymentAggregateType, stranger), 0))(t)
	if len(evs) != 2 || evs[0].Type != payment.TypePaymentDeclined || evs[1].Type != payment.TypeOrderPaymentDeclined {
		t.Errorf("order payment stream holds %+v", evs)
	}
}

// An order declined because its customer had no account is never charged, even if an
// account with that id exists by the time the message comes back with its inbox row
// pruned. Before, the decline lived in a stream looked up only when the account was
// missing, so such a replay charged the account for a rejected order.
func TestPaymentsUnknownCustomerIsNeverChargedLater(t *testing.T) {
	es := testenv.NewEventStore(t)
	store := es.Store
	r := must(newPaymentsReactor(testConfig(), store))(t)
	orderID, customer := uuid.NewString(), uuid.NewString()
	reserved := inventory.OrderStockReserved{OrderID: orderID, CustomerID: customer, Total: domain.Money{AmountCents: 400, Currency: "EUR"},
		Lines: []inventory.ReservedLine{{ProductID: "p", SKU: "S", Name: "N", Quantity: 1, UnitPriceCents: 400}}}
	react(t, r, record(t, reserved, "r"), OutcomeApplied)
	acct := must(payment.Open(customer, "A", "a@b.c"))(t)
	if err := acct.Deposit(1000); err != nil {
		t.Fatal(err)
	}
	accounts := must(command.NewRepository(store, command.AccountType(), command.Config{}))(t)
	must(accounts.Create(context.Background(), acct, command.Options{}))(t)
	must(es.Pool.Exec(context.Background(), `DELETE FROM inbox`))(t) // pruned past its retention
	react(t, r, record(t, reserved, "r"), OutcomeNoop)
	if a := must(accounts.Load(context.Background(), customer))(t); a.BalanceCents() != 1000 {
		t.Errorf("balance %d after the replay, want 1000: the declined order was charged", a.BalanceCents())
	}
}

// An order declined, by an earlier release, in its decline stream is not declined again.
func TestPaymentsLegacyDeclineStreamStillCounts(t *testing.T) {
	store := testStore(t)
	r := must(newPaymentsReactor(testConfig(), store))(t)
	orderID, customer := uuid.NewString(), uuid.NewString()
	name, payload := must2(domain.Encode(payment.DeclineUnknownCustomer(customer, orderID)))(t)
	must(store.Append(context.Background(), command.StreamID(DeclineStreamType, orderID), DeclineStreamType, 0,
		eventstore.EventData{Type: name, Payload: payload}))(t)
	react(t, r, record(t, inventory.OrderStockReserved{OrderID: orderID, CustomerID: customer, Total: domain.Money{Currency: "EUR"},
		Lines: []inventory.ReservedLine{{ProductID: "p", SKU: "S", Name: "N", Quantity: 1}}}, "r"), OutcomeNoop)
	if evs := must(store.Load(context.Background(), command.StreamID(payment.OrderPaymentAggregateType, orderID), 0))(t); len(evs) != 0 {
		t.Errorf("declined again: %+v", evs)
	}
}

// TestReactIgnoresOtherEvents checks that an event type a reactor does not react to is
// ignored, and garbage is permanent.
func TestReactIgnoresOtherEvents(t *testing.T) {
	r := must(newInventoryReactor(testConfig(), nopStore{}))(t)
	react(t, r, record(t, order.OrderConfirmed{OrderID: "o"}, "order-o"), OutcomeIgnored)
	if _, err := r.react(context.Background(), &kgo.Record{Value: []byte("{}")}); !IsPermanent(err) {
		t.Errorf("garbage: %v, want permanent", err)
	}
}

// nopStore is an event store that must not be used.
type nopStore struct{}

func (nopStore) Load(context.Context, string, int64) ([]eventstore.RecordedEvent, error) {
	return nil, errors.New("unused")
}

func (nopStore) Write(context.Context, eventstore.Write) (map[string]int64, error) {
	return nil, errors.New("unused")
}
