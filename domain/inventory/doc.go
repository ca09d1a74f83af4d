// Package inventory is the inventory bounded context's domain: the catalog
// and stock of products, and the all-or-nothing reservation of an order's
// lines.
//
// # Two aggregates
//
// [Product] (stream "product-<product id>") owns catalog data, price and
// stock. Stock is split into available and reserved units; neither ever goes
// negative. Its state is bounded: it keeps nothing per order, however many
// orders it served ([StockReserved], [StockReservationFailed] and
// [StockReleased] still name the order, for the read side), so a snapshot of
// it ([Product.Snapshot], [RestoreProduct]) stays a few hundred bytes.
//
// [OrderReservation] (stream "order_reservation-<order id>") records the
// order-level outcome the saga publishes: [OrderStockReserved] with priced
// lines and total, or [OrderStockReservationFailed] with a reason, then
// possibly [OrderStockReleased]. It is what remembers the order: a product
// reserves or releases only through it, so per order stock is reserved at
// most once and released at most once, and the release takes the reserved
// quantities from it.
//
// # Reserving an order (saga reaction to OrderPlaced)
//
//  1. Load the order's OrderReservation (a new one if its stream is empty)
//     and the Product of every line (leave unknown products out of the map).
//  2. Call [OrderReservation.Reserve]. It does nothing if the order already
//     has an outcome. Otherwise, if any product is unknown, of another
//     currency, or short of stock, it reserves nothing and records the
//     failure (short products also record [StockReservationFailed]); else it
//     reserves every line ([StockReserved] on each product) and records
//     [OrderStockReserved].
//  3. Append the changes of the OrderReservation and of every product in ONE
//     transaction with optimistic concurrency on each stream; on a conflict,
//     reload everything and retry. This atomic append is what makes the
//     reservation all or nothing, and what lets the products forget the
//     order: the reservation's outcome is stored with their stock changes.
//
// # Releasing (saga reaction to OrderCancelled, OrderRejected, PaymentDeclined)
//
// Load the OrderReservation, then the products of [OrderReservation.ProductIDs],
// call [OrderReservation.Release] and append all changes atomically. Release
// is idempotent. A release that arrives before any reservation closes the
// order's reservation, so a late OrderPlaced reaction reserves nothing.
//
// Reservations of confirmed orders stay reserved: this context has no
// shipping yet, so reserved stock is stock held or sold.
//
// The order-level events carry the customer id because the payments context
// needs it to find the account to charge; the priced lines carry SKU and
// name because the orders context confirms the order with them.
package inventory
