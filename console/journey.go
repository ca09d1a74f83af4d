package console

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/sagas"
)

// Journey is everything the three contexts recorded for one order, on one timeline.
type Journey struct {
	OrderID string `json:"order_id"`
	// Status is the order's status now; Reason says why it was rejected or cancelled, in
	// the words of the event that decided it.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Explanation is the reason in plain words.
	Explanation string `json:"explanation,omitempty"`
	// TraceID and TraceURL identify the order's trace (W3C trace id of the OrderPlaced
	// event's traceparent), TraceURL only when a trace UI is configured.
	TraceID  string `json:"trace_id,omitempty"`
	TraceURL string `json:"trace_url,omitempty"`
	// Steps are the events in time order.
	Steps []Step `json:"steps"`
}

// Step is one event of a journey with the time since the order was placed and since the
// previous step (the hop).
type Step struct {
	Event
	SincePlacedMS   float64 `json:"since_placed_ms"`
	SincePreviousMS float64 `json:"since_previous_ms"`
	TraceURL        string  `json:"trace_url,omitempty"`
}

// orderStreams are the per-order streams of each context, by stream type.
var orderStreams = []string{order.AggregateType, order.SettlementAggregateType, inventory.ReservationAggregateType,
	payment.OrderPaymentAggregateType, sagas.DeclineStreamType}

// Journey gathers an order's events: those of its own and its per-order streams in every
// context, and those written in the same transactions that name the order (a product's
// StockReserved, an account's PaymentCaptured). An order without an OrderPlaced stream in
// the orders database is not found.
func (s *Service) Journey(ctx context.Context, orderID string) (Journey, error) {
	j := Journey{OrderID: orderID, Steps: []Step{}}
	byContext := map[string][]string{}
	for _, t := range s.StreamTypes() {
		if slices.Contains(orderStreams, t.Name) {
			byContext[t.Context] = append(byContext[t.Context], t.Name+"-"+orderID)
		}
	}
	var events []Event
	for _, name := range s.Contexts() {
		recs, err := s.contexts[name].Store.TransactionEvents(ctx, byContext[name])
		if err != nil {
			return j, err
		}
		for _, r := range recs {
			if e := eventOf(name, r); slices.Contains(byContext[name], r.StreamID) || names(e.Payload, orderID) {
				events = append(events, e)
			}
		}
	}
	if !slices.ContainsFunc(events, func(e Event) bool { return e.StreamID == order.AggregateType+"-"+orderID }) {
		return j, notFound("order %s has no events in the orders database", orderID)
	}
	slices.SortStableFunc(events, func(a, b Event) int { return a.RecordedAt.Compare(b.RecordedAt) })
	s.fillJourney(&j, events)
	return j, nil
}

// names reports whether an event payload's order_id is orderID.
func names(payload json.RawMessage, orderID string) bool {
	var p struct {
		OrderID string `json:"order_id"`
	}
	return json.Unmarshal(payload, &p) == nil && p.OrderID == orderID
}

// fillJourney computes the hops, the status and the trace links of a sorted timeline.
func (s *Service) fillJourney(j *Journey, events []Event) {
	start := events[0].RecordedAt
	prev := start
	for _, e := range events {
		step := Step{Event: e, SincePlacedMS: ms(e.RecordedAt.Sub(start)), SincePreviousMS: ms(e.RecordedAt.Sub(prev))}
		step.TraceURL = s.traceURL(traceID(e.TraceParent))
		j.Steps = append(j.Steps, step)
		prev = e.RecordedAt
		if e.StreamType == order.AggregateType {
			j.Status, j.Reason = orderOutcome(e, j.Status, j.Reason)
		}
	}
	j.TraceID = traceID(events[0].TraceParent)
	j.TraceURL = s.traceURL(j.TraceID)
	j.Explanation = explain(j.Status, j.Reason, events)
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

// orderOutcome advances the status and reason by one event of the order's own stream.
func orderOutcome(e Event, status, reason string) (string, string) {
	var p struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	switch e.EventType {
	case order.TypeOrderPlaced:
		return string(order.StatusPending), ""
	case order.TypeOrderConfirmed:
		return string(order.StatusConfirmed), ""
	case order.TypeOrderRejected:
		return string(order.StatusRejected), p.Reason
	case order.TypeOrderCancelled:
		return string(order.StatusCancelled), p.Reason
	}
	return status, reason
}

// explain says in plain words why an order ended as it did, naming the event that decided
// it in the other contexts.
func explain(status, reason string, events []Event) string {
	switch status {
	case string(order.StatusPending):
		return "The order is waiting for inventory and payments to answer."
	case string(order.StatusConfirmed):
		return "Stock was reserved and the payment captured: the order is confirmed."
	case string(order.StatusCancelled):
		text := "The order was cancelled"
		if reason != "" {
			text += " (" + reason + ")"
		}
		return text + "; reserved stock is released and a captured payment refunded."
	}
	why := map[string]string{
		"insufficient_stock": "a product did not have enough stock",
		"unknown_product":    "a product of the order does not exist",
		"currency_mismatch":  "the products are priced in different currencies",
		"insufficient_funds": "the customer's balance was too low to pay",
		"unknown_customer":   "the customer has no account",
		"timeout":            "it was not settled before the settlement deadline",
	}[reason]
	text := "The order was rejected: " + cmp.Or(why, reason)
	for _, e := range events {
		if strings.Contains(e.EventType, "Failed") || strings.Contains(e.EventType, "Declined") {
			return text + " (" + e.EventType + " in " + e.Context + ", " + e.StreamID + ")."
		}
	}
	return text + "."
}

// traceID returns the trace id of a W3C traceparent ("00-<trace id>-<span id>-<flags>"),
// "" if there is none.
func traceID(traceparent string) string {
	parts := strings.Split(traceparent, "-")
	if len(parts) < 4 || len(parts[1]) != 32 || strings.Trim(parts[1], "0") == "" {
		return ""
	}
	return parts[1]
}

// traceURL is the trace UI's page of a trace, "" without a trace or a UI.
func (s *Service) traceURL(id string) string {
	if id == "" || s.cfg.TraceUIURL == "" {
		return ""
	}
	return s.cfg.TraceUIURL + "/trace/" + id
}
