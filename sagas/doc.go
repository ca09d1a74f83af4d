// Package sagas runs the order saga of design.md as a choreography: one Reactor per
// bounded context, each consuming the other contexts' event topics and appending to its own
// context's event store only. There is no coordinator; the domain aggregates decide, and
// make every reaction idempotent and safe in any order (see domain/choreography_test.go).
//
//	orders.events    OrderPlaced ─────────────▶ inventory: reserve (all or nothing)
//	inventory.events OrderStockReserved ──────▶ payments: capture the total
//	                                     └────▶ orders: keep the priced lines
//	inventory.events OrderStockReservationFailed ─▶ orders: reject
//	payments.events  PaymentCaptured ─────────▶ orders: confirm
//	payments.events  PaymentDeclined ─────────▶ orders: reject (not order_closed)
//	                                     └────▶ inventory: release
//	orders.events    OrderCancelled ──────────▶ inventory: release; payments: refund
//	orders.events    OrderRejected ───────────▶ inventory: release; payments: refund if timeout
//	deadline scanner (orders) ────────────────▶ OrderRejected{timeout}
//
// Build the reactors with NewInventoryReactor, NewPaymentsReactor and NewOrdersReactor (or
// NewReactor by context name) and call Run on each; one Config serves all three.
//
// # Topics, groups, dead letters
//
// Each context's relay publishes its database's events to its events topic (Config's
// ContextConfig.EventsTopic, default "<context>.events"), keyed by stream id. Each reactor
// is a member of its context's consumer group (default "shopflow.sagas.<context>");
// instances of a service share the group and split the partitions. A new group starts at
// the beginning of the topics. A poll's records are processed in lanes by what their
// reactions write to (see lanes.go): the records of one order, and of every order that
// writes to the same product or account, in partition order, one at a time, and several
// of them written in one transaction (group commit); lanes run concurrently
// (Config.Concurrency). Records of unrelated orders may therefore be processed, and
// dead-lettered, in any order relative to each other.
//
// A message that can never be processed (an undecodable envelope or payload, a corrupt
// stream, input the domain refuses, see IsPermanent) is produced to the consuming
// context's dead-letter topic (default "<context>.dlt") with its key, value and headers
// and the dlt-* headers naming the error and the source topic, partition and offset; then
// the partition moves on. ListDeadLetters reads a dead-letter topic; Redrive re-publishes
// chosen letters to their source topics. Any other failure (Postgres or Kafka down,
// version conflicts beyond Config.Command.MaxAttempts) is transient: the message is
// retried with exponential backoff (Config.Backoff up to Config.MaxBackoff) and its
// offset is not committed.
//
// # Exactly once in effect
//
// Delivery is at least once: the relay may publish an event twice, a consumer may read a
// record again after a crash or a rebalance. Each reaction therefore writes, in the same
// transaction as its events (eventstore.Write), an inbox row keyed by consumer
// (InboxConsumer: "sagas.<context>", independent of the group) and the event id, so the
// same event has no second effect whatever its topic, partition, offset or group. A
// reaction that decides to do nothing still writes its inbox row. Messages of event types
// a reactor does not react to write nothing.
//
// Offsets are committed by hand after the poll's reactions are durable. Consumers use
// kgo.BlockRebalanceOnPoll, so partitions are never revoked between a poll and its commit;
// when a rebalance is waiting on a message that keeps failing, the reactor commits what
// it finished, rewinds that partition to the failing message and lets the rebalance go on.
//
// # Group protocol
//
// franz-go v1.22 uses the classic consumer group protocol unless kgo.ServerSideBalancer is
// given; the reactors use it with the cooperative-sticky balancer (incremental
// rebalances). Config.ServerSideAssignment switches to KIP-848 (the broker assigns, with
// the sticky balancer), which franz-go recommends from Kafka 4.3: earlier 4.x brokers may
// refuse a commit with STALE_MEMBER_EPOCH (the messages are then delivered again, and the
// inbox drops them).
//
// # State the orders context keeps
//
// Confirming an order needs the priced lines (OrderStockReserved) and the capture
// (PaymentCaptured), which arrive from two topics in either order. The orders reactor
// records whichever comes first in the order's settlement stream (order.SettlementAggregateType,
// in the orders database, published on the orders topic like its other events) and
// confirms when the second arrives. A customer without an account gets
// PaymentDeclined{unknown_customer} in the order's payment stream of the payments database
// (payment.OrderPayment; earlier releases used DeclineStreamType, still read).
//
// # Deadline
//
// An order still pending Config.Deadline after it was placed is rejected with reason
// timeout; inventory and payments compensate on that OrderRejected as on any other. The
// orders reactor scans every Config.ScanInterval the pending_orders table (migration
// 0002_saga_state), which a trigger on the events table maintains in the transaction of
// every order event, so it can never disagree with the streams. One instance scans at a
// time (a Postgres advisory lock); rejection is optimistic and idempotent, so a
// confirmation racing it wins or loses cleanly.
//
// # Metrics
//
// NewMetrics registers shopflow_saga_processed_total{reactor,outcome},
// shopflow_saga_dead_lettered_total, shopflow_saga_retries_total,
// shopflow_saga_timeouts_total, shopflow_saga_lag_records{topic,partition},
// shopflow_saga_lag_seconds and shopflow_saga_processing_seconds.
package sagas
