package sagas_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/sagas"
)

// recordedPrincipals returns, for every event of context c whose stream id is one of ids
// and whose recording came after since, its type and the principal its metadata records.
func (w *world) recordedPrincipals(c string, since time.Time, ids ...string) map[string]command.Principal {
	w.t.Helper()
	rows, err := w.dbs[c].pool.Query(ctx(w.t), `SELECT stream_id, event_type, metadata::text FROM events
		WHERE stream_id = ANY($1) AND recorded_at >= $2 ORDER BY position`, ids, since)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]command.Principal{}
	for rows.Next() {
		var stream, typ, raw string
		if err := rows.Scan(&stream, &typ, &raw); err != nil {
			w.t.Fatal(err)
		}
		var m struct {
			Principal *struct {
				Subject  string `json:"subject"`
				ClientID string `json:"client_id"`
			} `json:"principal"`
		}
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			w.t.Fatal(err)
		}
		var p command.Principal
		if m.Principal != nil {
			p = command.Principal{Subject: m.Principal.Subject, ClientID: m.Principal.ClientID}
		}
		got[c+" "+stream+" "+typ] = p
	}
	if err := rows.Err(); err != nil {
		w.t.Fatal(err)
	}
	return got
}

// Every event an order causes, in all three contexts and through the whole saga, records
// the principal that placed it; the events its cancellation causes (release, refund) the
// principal that cancelled it.
func TestEventsRecordTheirPrincipalThroughTheSaga(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	p, c := w.newProduct(250, 10), w.newCustomer(10_000)
	since := time.Now().Add(-time.Second)
	alice := command.Principal{Subject: "alice", ClientID: "web-shop"}
	bob := command.Principal{Subject: "bob"}
	id := must(w.place.Handle(ctx(t), command.PlaceOrder{CustomerID: c, Lines: []order.Line{{ProductID: p, Quantity: 2}}},
		command.Options{Metadata: command.Metadata{Principal: alice}}))(t).ID
	w.waitStatus(id, order.StatusConfirmed)
	must(w.cancel.Handle(ctx(t), cancelOrder(id), command.Options{Metadata: command.Metadata{Principal: bob}}))(t)
	w.eventuallyStock(p, 10, 0)
	eventually(t, 20*time.Second, "refund", func() bool { return w.account(c).BalanceCents() == 10_000 })
	w.waitQuiet()

	got := map[string]command.Principal{}
	for ctxName, streams := range map[string][]string{
		sagas.Orders:    {"order-" + id, "order_settlement-" + id},
		sagas.Inventory: {"product-" + p, "order_reservation-" + id},
		sagas.Payments:  {"account-" + c, "order_payment-" + id},
	} {
		for k, v := range w.recordedPrincipals(ctxName, since, streams...) {
			if !strings.HasSuffix(k, " ProductRegistered") && !strings.HasSuffix(k, " AccountOpened") && !strings.HasSuffix(k, " FundsDeposited") {
				got[k] = v // not the set-up's own events
			}
		}
	}
	if len(got) < 10 {
		t.Fatalf("only %d events found: %v", len(got), got)
	}
	for event, p := range got {
		want := alice
		if strings.Contains(event, "Cancel") || strings.Contains(event, "Release") || strings.Contains(event, "Refund") {
			want = bob
		}
		if p != want {
			t.Errorf("%s records principal %+v, want %+v", event, p, want)
		}
	}
}

// A timeout rejection records the deadline as its principal, and so do its compensations.
func TestTimeoutRecordsTheDeadlineAsPrincipal(t *testing.T) {
	w := newWorld(t, worldOpts{deadline: time.Second})
	w.start(sagas.Orders)
	since := time.Now().Add(-time.Second)
	id := must(w.place.Handle(ctx(t), command.PlaceOrder{CustomerID: w.newCustomer(0), Lines: []order.Line{{ProductID: w.newProduct(1, 1), Quantity: 1}}},
		command.Options{Metadata: command.Metadata{Principal: command.Principal{Subject: "alice"}}}))(t).ID
	w.wantRejected(id, order.ReasonTimeout)
	got := w.recordedPrincipals(sagas.Orders, since, "order-"+id)
	if p := got[sagas.Orders+" order-"+id+" "+order.TypeOrderRejected]; p != sagas.DeadlinePrincipal {
		t.Fatalf("timeout rejection records %+v (all: %v)", p, got)
	}
	if p := got[sagas.Orders+" order-"+id+" "+order.TypeOrderPlaced]; p.Subject != "alice" {
		t.Fatalf("placement records %+v", p)
	}
}
