package chaos

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
)

// Names of the checks.
const (
	CheckAccepted    = "accepted"
	CheckFinal       = "final"
	CheckStock       = "stock"
	CheckMoney       = "money"
	CheckOnce        = "once"
	CheckKafka       = "kafka"
	CheckReadModels  = "read_models"
	CheckDeadLetters = "dead_letters"
)

// Result is the outcome of one check: a summary line with its numbers, and the problems
// found (none when it passed).
type Result struct {
	Name     string
	Summary  string
	Problems []string
}

// OK reports whether the check found nothing wrong.
func (r Result) OK() bool { return len(r.Problems) == 0 }

// problems collects a check's findings.
type problems []string

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// Check runs every check over the evidence.
func Check(ev *Evidence) []Result {
	return []Result{checkAccepted(ev), checkFinal(ev), checkStock(ev), checkMoney(ev), checkOnce(ev),
		checkKafka(ev), checkReadModels(ev), checkDeadLetters(ev)}
}

// checkAccepted: every command answered 2xx left its effect in its event store.
func checkAccepted(ev *Evidence) Result {
	f := ev.fold()
	var p problems
	accepted := map[string]int{}
	for _, s := range ev.Sent {
		if !s.Accepted {
			continue
		}
		accepted[s.Kind]++
		if msg := effectMissing(f, s); msg != "" {
			p.addf("%s %s (answered %d, version %d): %s", s.Kind, s.Result.ID, s.Status, s.Result.Version, msg)
		}
	}
	total := 0
	for _, n := range accepted {
		total += n
	}
	return Result{CheckAccepted, fmt.Sprintf("%d accepted commands %s looked up in their event stores", total, sortedCounts(accepted)), p}
}

// effectMissing says what is missing of an accepted command's effect ("" if nothing).
func effectMissing(f *folds, s *Sent) string {
	at := func(c, stream string, version int64, typ string) string {
		for _, e := range f.stream(c, stream) {
			if e.Version == version && e.Type == typ {
				return ""
			}
		}
		return fmt.Sprintf("no %s at version %d of %s", typ, version, stream)
	}
	switch s.Kind {
	case KindRegisterProduct:
		return at("inventory", command.StreamID(inventory.ProductAggregateType, s.Result.ID), 1, inventory.TypeProductRegistered)
	case KindOpenAccount:
		return at("payments", command.StreamID(payment.AggregateType, s.Result.ID), 1, payment.TypeAccountOpened)
	case KindDeposit:
		return at("payments", command.StreamID(payment.AggregateType, s.Target), s.Result.Version, payment.TypeFundsDeposited)
	case KindRestock:
		return at("inventory", command.StreamID(inventory.ProductAggregateType, s.Target), s.Result.Version, inventory.TypeStockAdded)
	case KindPlaceOrder:
		return at("orders", command.StreamID(order.AggregateType, s.Result.ID), 1, order.TypeOrderPlaced)
	case KindCancelOrder: // cancelling a cancelled order is accepted and records nothing
		for _, e := range f.stream("orders", command.StreamID(order.AggregateType, s.Target)) {
			if e.Type == order.TypeOrderCancelled && e.Version <= s.Result.Version {
				return ""
			}
		}
		return "no OrderCancelled in the order's stream"
	}
	return ""
}

// checkFinal: every order reached a final status.
func checkFinal(ev *Evidence) Result {
	f := ev.fold()
	var p problems
	statuses := map[string]int{}
	for id, o := range f.orders {
		statuses[string(o.Status())]++
		if o.Status() == order.StatusPending {
			p.addf("order %s still pending (placed %s)", id, o.PlacedAt().Format("15:04:05.000"))
		}
	}
	return Result{CheckFinal, fmt.Sprintf("%d orders %s", len(f.orders), sortedCounts(statuses)), p}
}

// checkStock: folded from the inventory events, no product's stock is negative, its units
// are conserved (available + reserved = initial + restocked), exactly the confirmed
// orders hold reservations, and no order that is not confirmed holds one.
func checkStock(ev *Evidence) Result {
	f := ev.fold()
	var p problems
	for _, e := range f.errs {
		if strings.HasPrefix(e, "inventory/") {
			p.addf("stream does not fold: %s", e)
		}
	}
	held := map[string]int64{}
	for _, o := range f.orders {
		if o.Status() == order.StatusConfirmed {
			for _, l := range o.PricedLines() {
				held[l.ProductID] += l.Quantity
			}
		}
	}
	var units, reserved int64
	for id, pr := range f.products {
		supplied := suppliedUnits(f.stream("inventory", command.StreamID(inventory.ProductAggregateType, id)))
		units, reserved = units+supplied, reserved+pr.Reserved()
		if pr.Available() < 0 || pr.Reserved() < 0 || pr.Available()+pr.Reserved() != supplied || pr.Reserved() != held[id] {
			p.addf("product %s: %d available + %d reserved, %d units supplied, confirmed orders hold %d",
				id, pr.Available(), pr.Reserved(), supplied, held[id])
		}
	}
	for id, r := range f.reservations {
		o, ok := f.orders[id]
		switch {
		case !ok:
			p.addf("reservation of order %s, which the orders context never placed", id)
		case (r.Status() == inventory.ReservationReserved) != (o.Status() == order.StatusConfirmed):
			p.addf("order %s is %s but its reservation is %s", id, o.Status(), r.Status())
		}
	}
	return Result{CheckStock, fmt.Sprintf("%d products: %d units supplied, %d reserved by %d confirmed orders",
		len(f.products), units, reserved, countStatus(f, order.StatusConfirmed)), p}
}

// suppliedUnits is a product's initial stock plus its restocks.
func suppliedUnits(stream []StoredEvent) int64 {
	var n int64
	for _, e := range stream {
		switch e.Type {
		case inventory.TypeProductRegistered:
			var r inventory.ProductRegistered
			json.Unmarshal(e.Payload, &r)
			n += r.InitialStock
		case inventory.TypeStockAdded:
			var a inventory.StockAdded
			json.Unmarshal(e.Payload, &a)
			n += a.Quantity
		}
	}
	return n
}

func countStatus(f *folds, s order.Status) int {
	n := 0
	for _, o := range f.orders {
		if o.Status() == s {
			n++
		}
	}
	return n
}

// checkMoney: folded from the payments events, no balance is negative, each balance is its
// deposits less its confirmed orders' totals, every confirmed order was captured once at
// its total and no other order keeps a capture.
func checkMoney(ev *Evidence) Result {
	f := ev.fold()
	var p problems
	for _, e := range f.errs {
		if strings.HasPrefix(e, "payments/") {
			p.addf("stream does not fold: %s", e)
		}
	}
	charged := map[string]int64{}
	for _, o := range f.orders {
		if o.Status() == order.StatusConfirmed {
			charged[o.CustomerID()] += o.TotalCents()
		}
	}
	var deposits, balances int64
	for id, a := range f.accounts {
		d := sumAmounts(f.stream("payments", command.StreamID(payment.AggregateType, id)), payment.TypeFundsDeposited)
		deposits, balances = deposits+d, balances+a.BalanceCents()
		if a.BalanceCents() < 0 || a.BalanceCents() != d-charged[id] {
			p.addf("customer %s: balance %d, deposited %d, confirmed orders %d", id, a.BalanceCents(), d, charged[id])
		}
	}
	for id, o := range f.orders {
		pay, ok := f.payments[id]
		captured := ok && pay.Payment().State == payment.PaymentStateCaptured
		switch {
		case o.Status() == order.StatusConfirmed && (!captured || pay.Payment().AmountCents != o.TotalCents()):
			p.addf("confirmed order %s (total %d) has payment %+v", id, o.TotalCents(), paymentOf(pay))
		case o.Status() != order.StatusConfirmed && captured:
			p.addf("%s order %s keeps a capture of %d", o.Status(), id, pay.Payment().AmountCents)
		}
	}
	return Result{CheckMoney, fmt.Sprintf("%d accounts: %d cents deposited, %d charged for confirmed orders, %d in balances",
		len(f.accounts), deposits, deposits-balances, balances), p}
}

func paymentOf(p *payment.OrderPayment) payment.Payment {
	if p == nil {
		return payment.Payment{State: payment.PaymentStateNone}
	}
	return p.Payment()
}

// sumAmounts adds the amount_cents of a stream's events of one type.
func sumAmounts(stream []StoredEvent, typ string) int64 {
	var n int64
	for _, e := range stream {
		if e.Type == typ {
			var a struct {
				AmountCents int64 `json:"amount_cents"`
			}
			json.Unmarshal(e.Payload, &a)
			n += a.AmountCents
		}
	}
	return n
}

// checkOnce: no reservation, release, capture, refund or order outcome recorded twice for
// one order.
func checkOnce(ev *Evidence) Result {
	var p problems
	type key struct{ c, typ, stream, order string }
	seen := map[key]int{}
	once := map[string]bool{
		inventory.TypeStockReserved: true, inventory.TypeStockReleased: true, inventory.TypeOrderStockReserved: true,
		inventory.TypeOrderStockReleased: true, payment.TypePaymentCaptured: true, payment.TypePaymentRefunded: true,
		payment.TypeOrderPaymentCaptured: true, payment.TypeOrderPaymentRefunded: true, order.TypeOrderConfirmed: true,
		order.TypeOrderRejected: true, order.TypeOrderCancelled: true,
	}
	counted := map[string]int{}
	for _, c := range Contexts {
		for _, e := range ev.Events[c] {
			if !once[e.Type] {
				continue
			}
			var o struct {
				OrderID string `json:"order_id"`
			}
			json.Unmarshal(e.Payload, &o)
			k := key{c, e.Type, e.StreamID, o.OrderID}
			if e.Type == payment.TypePaymentCaptured || e.Type == payment.TypePaymentRefunded {
				k.stream = "" // an order is charged or refunded once, from whichever account
			}
			seen[k]++
			counted[e.Type]++
			if seen[k] == 2 {
				p.addf("%s recorded twice for order %s (stream %s)", e.Type, o.OrderID, e.StreamID)
			}
		}
	}
	return Result{CheckOnce, fmt.Sprintf("once-only events %s", sortedCounts(counted)), p}
}

// checkKafka: every Postgres event is on its context's topic, with the same id, version
// and stream; each stream on one partition, its versions first seen in order (redeliveries
// of earlier versions are allowed: delivery is at least once); no record that no event
// stored, except the poisoned ones.
func checkKafka(ev *Evidence) Result {
	var p problems
	var events, records, redelivered, poisoned int
	for _, c := range Contexts {
		topic := eventTopics()[slices.Index(Contexts, c)]
		onTopic := map[string]eventstore.Envelope{} // by event id
		partitionOf := map[string]int32{}
		next := map[string]int64{}
		for _, r := range ev.Topics[topic] {
			records++
			if ev.Poison[string(r.Key)] {
				poisoned++
				continue
			}
			env, err := eventstore.Decode(r, nil)
			if err != nil {
				p.addf("%s/%d@%d does not decode: %v", topic, r.Partition, r.Offset, err)
				continue
			}
			if part, ok := partitionOf[env.StreamID]; ok && part != r.Partition {
				p.addf("stream %s on partitions %d and %d of %s", env.StreamID, part, r.Partition, topic)
			}
			partitionOf[env.StreamID] = r.Partition
			switch n := next[env.StreamID] + 1; {
			case env.Version < n:
				redelivered++
			case env.Version == n:
				next[env.StreamID] = n
			default:
				p.addf("%s version %d on %s/%d@%d before version %d", env.StreamID, env.Version, topic, r.Partition, r.Offset, n)
				next[env.StreamID] = env.Version
			}
			onTopic[env.EventID.String()] = env
		}
		stored := map[string]bool{}
		for _, e := range ev.Events[c] {
			events++
			stored[e.EventID] = true
			env, ok := onTopic[e.EventID]
			switch {
			case !ok:
				p.addf("%s version %d (%s, event %s) is not on %s", e.StreamID, e.Version, e.Type, e.EventID, topic)
			case env.StreamID != e.StreamID || env.Version != e.Version || env.EventType != e.Type:
				p.addf("event %s is %s v%d %s in Postgres but %s v%d %s on %s", e.EventID, e.StreamID, e.Version, e.Type,
					env.StreamID, env.Version, env.EventType, topic)
			}
		}
		for id, env := range onTopic {
			if !stored[id] {
				p.addf("%s carries event %s (%s v%d) that Postgres does not hold", topic, id, env.StreamID, env.Version)
			}
		}
	}
	return Result{CheckKafka, fmt.Sprintf("%d Postgres events against %d topic records (%d redelivered, %d poisoned on purpose)",
		events, records, redelivered, poisoned), p}
}

// checkReadModels: every read-model document equals the fold of its stream, and every
// stream has its document.
func checkReadModels(ev *Evidence) Result {
	f := ev.fold()
	var p problems
	p.compareDocs("orders", ev.Docs["orders"], keys(f.orders), func(id string, raw json.RawMessage) string {
		return orderDiff(f.orders[id], raw)
	})
	p.compareDocs("products", ev.Docs["products"], keys(f.products), func(id string, raw json.RawMessage) string {
		var d struct {
			Version, Available, Reserved, PriceCents int64
		}
		decodeDoc(raw, &d)
		pr := f.products[id]
		return diff("version", d.Version, pr.Version()) + diff("available", d.Available, pr.Available()) +
			diff("reserved", d.Reserved, pr.Reserved()) + diff("price_cents", d.PriceCents, pr.PriceCents())
	})
	p.compareDocs("customers", ev.Docs["customers"], keys(f.accounts), func(id string, raw json.RawMessage) string {
		var d struct{ Version, BalanceCents int64 }
		decodeDoc(raw, &d)
		a := f.accounts[id]
		return diff("version", d.Version, a.Version()) + diff("balance_cents", d.BalanceCents, a.BalanceCents())
	})
	return Result{CheckReadModels, fmt.Sprintf("%d order, %d product and %d customer documents against their streams",
		len(ev.Docs["orders"]), len(ev.Docs["products"]), len(ev.Docs["customers"])), p}
}

// compareDocs reports documents missing, extra or different from their stream's fold.
func (p *problems) compareDocs(model string, docs map[string]json.RawMessage, streams []string, differ func(string, json.RawMessage) string) {
	want := map[string]bool{}
	for _, id := range streams {
		want[id] = true
		raw, ok := docs[id]
		if !ok {
			p.addf("%s document %s is missing", model, id)
			continue
		}
		if d := differ(id, raw); d != "" {
			p.addf("%s document %s differs from its stream:%s", model, id, d)
		}
	}
	for id := range docs {
		if !want[id] {
			p.addf("%s document %s has no stream", model, id)
		}
	}
}

// orderDiff compares an order document with the order's fold.
func orderDiff(o *order.Order, raw json.RawMessage) string {
	var d struct {
		Version      int64  `json:"version"`
		Status       string `json:"status"`
		CustomerID   string `json:"customer_id"`
		TotalCents   *int64 `json:"total_cents"`
		RejectReason string `json:"reject_reason"`
		Lines        []struct {
			ProductID string `json:"product_id"`
			Quantity  int64  `json:"quantity"`
		} `json:"lines"`
	}
	decodeDoc(raw, &d)
	out := diff("version", d.Version, o.Version()) + diff("status", d.Status, string(o.Status())) +
		diff("customer_id", d.CustomerID, o.CustomerID()) + diff("reject_reason", d.RejectReason, string(o.RejectReason()))
	if o.Status() == order.StatusConfirmed {
		out += diff("total_cents", deref(d.TotalCents), o.TotalCents())
	}
	docLines, lines := map[string]int64{}, map[string]int64{}
	for _, l := range d.Lines {
		docLines[l.ProductID] += l.Quantity
	}
	for _, l := range o.Lines() {
		lines[l.ProductID] += l.Quantity
	}
	if !maps.Equal(docLines, lines) {
		out += fmt.Sprintf(" lines %v, stream %v", docLines, lines)
	}
	return out
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// decodeDoc decodes a document's snake_case JSON into d, whose fields are either tagged or
// named so that the snake_case name matches (Go's decoder ignores case, not underscores).
func decodeDoc(raw json.RawMessage, d any) {
	var m map[string]json.RawMessage
	json.Unmarshal(raw, &m)
	flat := map[string]json.RawMessage{}
	for k, v := range m {
		flat[strings.ReplaceAll(k, "_", "")] = v
		flat[k] = v
	}
	b, _ := json.Marshal(flat)
	json.Unmarshal(b, d)
}

func diff[T comparable](field string, doc, stream T) string {
	if doc == stream {
		return ""
	}
	return fmt.Sprintf(" %s %v, stream %v;", field, doc, stream)
}

func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// checkDeadLetters: the dead-letter topics hold only the records the run poisoned, and every
// poisoned record was dead-lettered (not lost, not processed).
func checkDeadLetters(ev *Evidence) Result {
	var p problems
	lettered := map[string]int{}
	byTopic := map[string]int{}
	for _, t := range DeadLetterTopics {
		for _, r := range ev.Topics[t] {
			byTopic[t]++
			if !ev.Poison[string(r.Key)] {
				p.addf("%s/%d@%d holds %s (key %s), which the run did not poison: %s", t, r.Partition, r.Offset,
					header(r.Headers, eventstore.HeaderEventType), r.Key, header(r.Headers, "dlt-error"))
				continue
			}
			lettered[string(r.Key)]++
		}
	}
	for k := range ev.Poison {
		if lettered[k] == 0 {
			p.addf("poisoned record %s is on no dead-letter topic", k)
		}
	}
	return Result{CheckDeadLetters, fmt.Sprintf("%d records poisoned on purpose; dead letters %s", len(ev.Poison), sortedCounts(byTopic)), p}
}

// sortedCounts formats counts as {a: 1, b: 2}, keys sorted.
func sortedCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// header returns a record header's value.
func header(hs []kgo.RecordHeader, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
