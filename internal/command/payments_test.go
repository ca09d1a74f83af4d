package command_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/internal/command"
)

// openAccount opens an account and returns the customer id.
func openAccount(t testing.TB, store command.EventStore) string {
	t.Helper()
	h := must(command.NewOpenAccountHandler(store, command.Config{}))(t)
	email := "ada-" + uuid.NewString() + "@example.com" // emails are unique
	return must(h.Handle(ctx(t), command.OpenAccount{Name: "Ada", Email: email}, command.Options{}))(t).ID
}

func TestOpenAccount(t *testing.T) {
	d := newDB(t)
	h := must(command.NewOpenAccountHandler(d.store, command.Config{}))(t)
	res := must(h.Handle(ctx(t), command.OpenAccount{Name: "Ada", Email: "ada@example.com"}, command.Options{}))(t)
	if res.StreamID != "account-"+res.ID || res.Version != 1 {
		t.Errorf("result = %+v", res)
	}
	events := must(d.store.Load(ctx(t), res.StreamID, 0))(t)
	if len(events) != 1 || events[0].Type != payment.TypeAccountOpened || events[0].Metadata.CorrelationID == "" {
		t.Errorf("events = %+v", events)
	}

	_, err := h.Handle(ctx(t), command.OpenAccount{Name: "", Email: "not-an-email"}, command.Options{})
	wantFields(t, err, "name", "email")

	// The email is unique, ignoring case.
	_, err = h.Handle(ctx(t), command.OpenAccount{Name: "Ada L.", Email: "Ada@Example.com"}, command.Options{})
	var taken *command.TakenError
	if !errors.As(err, &taken) || taken.Field != "email" || taken.Value != "ada@example.com" || taken.HeldBy != res.ID {
		t.Fatalf("a second account with the email: %v (%+v), want a *TakenError on email held by %s", err, taken, res.ID)
	}
}

func TestDepositFunds(t *testing.T) {
	d := newDB(t)
	id := openAccount(t, d.store)
	h := must(command.NewDepositFundsHandler(d.store, command.Config{}))(t)

	wantVersion(t, must(h.Handle(ctx(t), command.DepositFunds{CustomerID: id, AmountCents: 500}, command.Options{}))(t), 2)
	wantVersion(t, must(h.Handle(ctx(t), command.DepositFunds{CustomerID: id, AmountCents: 250}, command.Options{}))(t), 3)
	repo := must(command.NewRepository(d.store, command.AccountType(), command.Config{}))(t)
	if a := must(repo.Load(ctx(t), id))(t); a.BalanceCents() != 750 {
		t.Errorf("balance = %d, want 750", a.BalanceCents())
	}

	_, err := h.Handle(ctx(t), command.DepositFunds{CustomerID: id, AmountCents: 0}, command.Options{})
	wantFields(t, err, "amount_cents")
	_, err = h.Handle(ctx(t), command.DepositFunds{CustomerID: "x", AmountCents: 1}, command.Options{})
	wantFields(t, err, "customer_id")
	if _, err = h.Handle(ctx(t), command.DepositFunds{CustomerID: uuid.NewString(), AmountCents: 1}, command.Options{}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("unknown customer: err = %v", err)
	}
}
