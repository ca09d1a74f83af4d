// Package order is the orders bounded context's domain: the Order aggregate,
// its events and its rules.
//
// # Lifecycle
//
//	Place ──▶ pending ──Confirm──▶ confirmed ──Cancel──▶ cancelled
//	             │ └────Cancel──────────────────────────▶ cancelled
//	             └──────Reject──▶ rejected
//
// [Place] records [OrderPlaced]. The saga settles a pending order with
// [Order.Confirm] (after PaymentCaptured) or [Order.Reject] (after a stock or
// payment failure, or a timeout). Customers may [Order.Cancel] a pending or
// confirmed order. rejected and cancelled are final; confirmed is settled
// (only Cancel still applies).
//
// # Idempotency
//
// Saga reactions must tolerate duplicates, late and reordered messages, so
// Confirm and Reject on an order that is no longer pending record nothing and
// return nil (this check comes before input validation: a late message's
// payload is irrelevant). Cancel of a cancelled order also records nothing;
// Cancel of a rejected order is refused with [ErrNotCancellable].
//
// # Compensation (what the other contexts must do)
//
// When PaymentCaptured arrives for an order that was meanwhile cancelled or
// rejected (timeout), Confirm is a no-op and the money must go back. The
// payments context guarantees that by reacting to every [OrderCancelled] and
// to [OrderRejected] with reason timeout by calling payment Account.Refund,
// which refunds a captured payment or, if the capture has not happened yet,
// records a decline so the late capture is ignored. The inventory context
// releases the order's reservation on every OrderCancelled, OrderRejected and
// PaymentDeclined (release is idempotent). [OrderRejected] and
// [OrderCancelled] carry the customer id so payments can find the account.
//
// # Choices
//
// An order has 1 to [MaxLines] lines, one per product: duplicate product
// lines are refused rather than merged, so a client bug is reported instead
// of silently changing quantities. Quantities are 1 to [MaxLineQuantity].
//
// Confirm needs the priced lines (SKU, name, unit price), which the saga gets
// from the inventory context's OrderStockReserved message: PaymentCaptured
// carries only the amount.
package order
