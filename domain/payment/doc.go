// Package payment is the payments bounded context's domain: one Account
// aggregate per customer (stream "account-<customer id>") holding the
// customer's profile and balance, and one OrderPayment aggregate per order
// (stream "order_payment-<order id>") remembering what was done for the
// order's payment.
//
// # Rules
//
// The balance never goes negative and money is conserved: deposits add to
// it, captures move money out for an order, refunds move exactly the
// captured amount back. Each order is charged at most once and refunded at
// most once, and it is the order's [OrderPayment] that knows, so the account
// keeps nothing per order and its state stays bounded however many orders
// its customer places:
//
//   - [OrderPayment.Capture] (saga reaction to inventory's OrderStockReserved)
//     records [PaymentCaptured] on the account and [OrderPaymentCaptured] on
//     the order, or [PaymentDeclined] and [OrderPaymentDeclined] with
//     insufficient_funds. Once the order was handled (captured, declined or
//     refunded) it records nothing.
//   - [OrderPayment.Refund] (saga reaction to every OrderCancelled and to
//     OrderRejected with reason timeout) records [PaymentRefunded] and
//     [OrderPaymentRefunded] for a captured payment. If the order was never
//     charged it records [PaymentDeclined] and [OrderPaymentDeclined] with
//     order_closed instead, so that a capture request still in flight (the two
//     messages come from different topics and may be reordered) is ignored
//     when it arrives. Refunded or declined orders: no-op.
//
// The caller appends the changes of the OrderPayment and of the Account in
// one transaction, so the order's record and the money movement are stored
// together. These guarantees hold without the saga's inbox, which is pruned:
// a message redelivered after its inbox row is gone finds the order's payment
// stream and changes nothing.
//
// The account's events are the published facts (the orders context reacts to
// PaymentCaptured and PaymentDeclined, the customers read model to all of
// them); the order payment stream's events repeat them per order for this
// context's decisions, and other consumers ignore them.
//
// # Accounts from before per-order payment streams
//
// Earlier releases kept the payments of every order in the account itself.
// Such an account's stream has payment events for orders with no payment
// stream. The account still remembers what those legacy events did per order,
// and the order payment falls back to that record when its own stream is
// empty, so a legacy order too is never charged twice nor refunded twice. The
// first payment event the account records now is preceded by
// [PaymentRecordsMoved]; payment events after it are not remembered per
// order by the account, so its legacy record never grows. A release that
// does not know PaymentRecordsMoved cannot load such an account: run only
// releases that do once one has moved.
//
// A customer with no account cannot record anything; the order's payment
// records the decline instead ([OrderPayment.DeclineUnknownCustomer]). The orders context ignores PaymentDeclined with reason
// order_closed, since its order is already final.
//
// Accounts hold a single currency implicitly: amounts are minor units of the
// shop's currency (inventory rejects orders mixing currencies).
//
// # Snapshots
//
// [Account.Snapshot] and [Restore] encode and rebuild an account's state
// (profile, balance and the legacy record), schema [AccountSnapshotVersion],
// for repositories that load it from a snapshot plus the events after it.
package payment
