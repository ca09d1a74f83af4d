package sagas

import (
	"context"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/testenv"
)

// The account keeps only its balance; the order's payment stream is what refuses a second
// charge or refund when a message comes back after its inbox row was pruned (a dead letter
// redriven late, a consumer group reset: see the Retention section of eventstore's doc).
func TestPaymentsReplayAfterInboxPruned(t *testing.T) {
	es := testenv.NewEventStore(t)
	r := must(newPaymentsReactor(testConfig(), es.Store))(t)
	customer := openAccount(t, es.Store, 1000)
	orderID := uuid.NewString()
	reserved := record(t, inventory.OrderStockReserved{OrderID: orderID, CustomerID: customer, Total: domain.Money{AmountCents: 400, Currency: "EUR"},
		Lines: []inventory.ReservedLine{{ProductID: "p", SKU: "S", Name: "N", Quantity: 1, UnitPriceCents: 400}}}, "r")
	cancelled := record(t, order.OrderCancelled{OrderID: orderID, CustomerID: customer, PreviousStatus: order.StatusConfirmed}, "o")

	react(t, r, reserved, OutcomeApplied)
	pruneInbox(t, es.Pool)
	react(t, r, reserved, OutcomeNoop)
	react(t, r, cancelled, OutcomeApplied)
	pruneInbox(t, es.Pool)
	react(t, r, cancelled, OutcomeNoop)
	react(t, r, reserved, OutcomeNoop)

	wantTypes(t, es.Store, command.StreamID(payment.AggregateType, customer), payment.TypeAccountOpened,
		payment.TypeFundsDeposited, payment.TypePaymentRecordsMoved, payment.TypePaymentCaptured, payment.TypePaymentRefunded)
	wantTypes(t, es.Store, command.StreamID(payment.OrderPaymentAggregateType, orderID),
		payment.TypeOrderPaymentCaptured, payment.TypeOrderPaymentRefunded)
	if a := loadAccount(t, es.Store, customer); a.BalanceCents() != 1000 {
		t.Errorf("balance %d, want 1000", a.BalanceCents())
	}
}

// An account whose history predates order payment streams (its captures live only in the
// account stream) still refuses a second refund and a second charge of such an order.
func TestPaymentsLegacyAccountRefundsOnce(t *testing.T) {
	es := testenv.NewEventStore(t)
	r := must(newPaymentsReactor(testConfig(), es.Store))(t)
	customer, orderID := uuid.NewString(), uuid.NewString()
	appendRaw(t, es.Store, command.StreamID(payment.AggregateType, customer), payment.AggregateType,
		payment.AccountOpened{CustomerID: customer, Name: "Old", Email: "old@example.com"},
		payment.FundsDeposited{CustomerID: customer, AmountCents: 1000},
		payment.PaymentCaptured{CustomerID: customer, OrderID: orderID, AmountCents: 300})
	cancelled := record(t, order.OrderCancelled{OrderID: orderID, CustomerID: customer, PreviousStatus: order.StatusConfirmed}, "o")
	reserved := record(t, inventory.OrderStockReserved{OrderID: orderID, CustomerID: customer, Total: domain.Money{AmountCents: 300, Currency: "EUR"},
		Lines: []inventory.ReservedLine{{ProductID: "p", SKU: "S", Name: "N", Quantity: 1, UnitPriceCents: 300}}}, "r")

	react(t, r, reserved, OutcomeNoop) // captured before the upgrade
	react(t, r, cancelled, OutcomeApplied)
	pruneInbox(t, es.Pool)
	react(t, r, cancelled, OutcomeNoop)
	react(t, r, reserved, OutcomeNoop)
	// A fresh reactor (no kept account) decides the same.
	pruneInbox(t, es.Pool)
	react(t, must(newPaymentsReactor(testConfig(), es.Store))(t), cancelled, OutcomeNoop)

	if a := loadAccount(t, es.Store, customer); a.BalanceCents() != 1000 {
		t.Errorf("balance %d, want 1000 (700 + the 300 refunded once)", a.BalanceCents())
	}
	wantTypes(t, es.Store, command.StreamID(payment.OrderPaymentAggregateType, orderID), payment.TypeOrderPaymentRefunded)
}

// openAccount opens an account with a balance and returns the customer id.
func openAccount(t testing.TB, store *eventstore.Store, balance int64) string {
	t.Helper()
	open := must(command.NewOpenAccountHandler(store, command.Config{}))(t)
	deposit := must(command.NewDepositFundsHandler(store, command.Config{}))(t)
	acct := must(open.Handle(context.Background(), command.OpenAccount{Name: "A", Email: uuid.NewString() + "@b.c"}, command.Options{}))(t)
	must(deposit.Handle(context.Background(), command.DepositFunds{CustomerID: acct.ID, AmountCents: balance}, command.Options{}))(t)
	return acct.ID
}

// loadAccount loads an account through a repository of its own.
func loadAccount(t testing.TB, store *eventstore.Store, id string) *payment.Account {
	t.Helper()
	accounts := must(command.NewRepository(store, command.AccountType(), command.Config{}))(t)
	return must(accounts.Load(context.Background(), id))(t)
}

// pruneInbox deletes every inbox row, as the Pruner does once they are past the retention.
func pruneInbox(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `DELETE FROM inbox`); err != nil {
		t.Fatal(err)
	}
}

// appendRaw appends events to a new stream as an earlier release wrote them.
func appendRaw(t testing.TB, store *eventstore.Store, streamID, streamType string, events ...domain.Event) {
	t.Helper()
	var data []eventstore.EventData
	for _, e := range events {
		name, payload := must2(domain.Encode(e))(t)
		data = append(data, eventstore.EventData{Type: name, Payload: payload})
	}
	must(store.Append(context.Background(), streamID, streamType, 0, data...))(t)
}

// must2 is must for two results.
func must2[T, U any](a T, b U, err error) func(testing.TB) (T, U) {
	return func(t testing.TB) (T, U) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

// wantTypes checks the event types of a stream, oldest first.
func wantTypes(t testing.TB, store *eventstore.Store, streamID string, want ...string) {
	t.Helper()
	var got []string
	for _, e := range must(store.Load(context.Background(), streamID, 0))(t) {
		got = append(got, e.Type)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", streamID, got, want)
	}
}
