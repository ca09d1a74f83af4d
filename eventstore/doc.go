// Package eventstore appends events to a service's Postgres database and relays them to
// Kafka: the write side of Shopflow.
//
// # Store
//
// Every event is a row of the events table, versioned per stream with UNIQUE(stream_id,
// version): optimistic concurrency, so exactly one writer wins each version and the losers
// get ErrVersionConflict. A Write commits appends to several streams, an inbox entry (a saga
// reaction's input message) and an idempotency record (an API command's Idempotency-Key) in
// one transaction, sent as one pipelined batch: there are no dual writes.
//
// # The events table is the outbox
//
// There is no separate outbox table. The relay reads the events table itself through a
// gap-safe cursor, so each event is written once, nothing has to be pruned, and the log a
// rebuild replays is the same log the relay published.
//
// Positions come from a sequence, taken at insert time, while rows become visible at commit
// time: a transaction holding position 10 may commit after one holding 11. A reader that
// follows positions publishes 11, moves its cursor past 10, and skips 10 forever — the
// classic Postgres outbox bug. The relay instead follows (transaction_id, position), where
// transaction_id is the writer's xid8, and reads only rows whose transaction is older than
// the oldest still running (pg_snapshot_xmin of the current snapshot). Such rows can no
// longer be joined by an earlier uncommitted one, so the cursor never passes an event it has
// not seen (watermill-sql uses the same scheme). The cost: while a transaction stays open,
// events committed after it wait for it; the relay re-checks every few milliseconds while
// committed events are pending, so a short transaction costs only its own duration. The
// horizon is the server's, not the database's: any transaction holding a transaction id
// (a write, CREATE DATABASE, …) delays the relays of every database on that server until it
// ends. Read-only transactions, pg_dump included, take no id and delay nothing. Give each
// service's database its own server in production, and keep write transactions short.
//
// Logical replication (pgoutput) would give commit order directly, but needs a replication
// slot per database that retains WAL while the relay is down and a second protocol to
// operate; the cursor needs neither and tests deterministically.
//
// Reading in (transaction_id, position) order keeps every stream in version order only if
// transaction ids grow along each stream. Write checks it: appending after version N
// requires N's transaction to be older than the appending one (it can only fail when a
// transaction wrote before reading the stream), and a failure is a retryable conflict.
//
// # Relay
//
// Relay publishes to <context>.events with the idempotent producer (acks=all), key = stream
// id. No event of a stream may ever land in Kafka after a later one, and a batch Kafka refuses
// for good is where that could happen: franz-go then fails every record it buffers for the
// partition, but a record produced after the failure starts a new sequence and can succeed
// (TestRelayPublishesNothingPastARefusedBatch reproduces it). So the relay's producer is its
// own, with manual flushing (RelayProducerOpts): a whole batch is buffered before any of it is
// sent, only one batch is in flight, and after a failure nothing more is produced until the
// relay restarts from its cursor. Append refuses payloads over MaxPayloadBytes, so no event
// is too large to publish. A reader goroutine on a connection of its own reads the next batch
// while the broker acknowledges the current one, and the cursor is saved (after the
// acknowledgements) while the next batch is produced: delivery is at least once, and
// consumers deduplicate by (stream id, version). Writers NOTIFY after their commit (not
// inside it: a NOTIFY holds a cluster-wide lock through the commit's WAL flush and would
// serialise all writers), coalesced per process; the relay LISTENs and falls back to a 1 s
// poll if a notification was lost. Idle is idle: every notification means "look again",
// so all those received since a fetch began are answered by the next fetch (pgx would
// otherwise queue them and replay one per idle round, long after a burst), and the check
// for committed-but-not-final events is an ordered LIMIT 1 scan, which stays on the
// (transaction_id, position) index under the generic plan Postgres gives prepared
// statements. An idle relay makes a fetch and a check per second
// (shopflow_relay_queries_total). One relay per database publishes at a time: it holds a
// Postgres advisory lock on its own connection, which the server releases when the process
// dies, and standbys retry the lock every second.
//
// # Envelope
//
// Records carry a versioned JSON Envelope (see Envelope) and headers for routing. The relay
// publishes each event at the schema version it was stored with; Decode upcasts with a
// PayloadUpcaster (the domain's registry) so consumers see the newest schema of each event
// type. docs/events/asyncapi.yaml describes the topics, the envelope and every version.
//
// # Snapshots
//
// The snapshots table holds, per stream, the newest snapshot of its aggregate's state
// (Snapshot, LoadSnapshot, SaveSnapshot), so that loading an aggregate reads the snapshot
// and the events after it instead of the whole stream (command.Repository decides when to
// take one). A snapshot is written in its own statement after the events it describes have
// committed, never inside an append; the store refuses one older than the stored one, or
// of a version the stream does not have. It is derived data: deleting snapshots is always
// safe, and the relay never reads them.
//
// # Retention
//
// Nothing else deletes from the inbox and idempotency_keys tables, so a Pruner does: inbox
// rows older than PrunerConfig.InboxRetention and idempotency keys older than
// IdempotencyRetention (7 days each by default), at most BatchSize rows per DELETE, each
// DELETE its own transaction, one pass every Interval. Run one in every instance of a
// service: a pass holds a Postgres advisory lock, and a pass that finds it taken is
// skipped. A pass with nothing to delete is one index probe per table (migration 0004).
//
// A forgotten idempotency key is simply unknown: the same Idempotency-Key then runs its
// command again (a second order, a second deposit), as the API documents.
//
// Pruning the inbox is safe because of what bounds the age of a redelivery. A saga
// reactor's inbox row (its consumer name and the event id) drops a message it has already
// processed. A message is delivered again only while its consumer group has not committed
// its offset, and a reactor commits right after the reactions of a poll are durable: a
// crash, a rebalance or a refused commit brings back records processed seconds before,
// longer only while the same poll is held up retrying a transient failure (a dependency
// outage). After a crash the relay publishes again only the events after its saved cursor,
// the batches that were in flight. Each of these redeliveries meets its inbox row.
//
// Two things can bring back a message older than the retention: a dead letter redriven
// after it (sagas.Redrive re-publishes to the source topic, so every reactor consuming that
// topic sees the message again, not only the one that dead-lettered it), and a consumer
// group reset to the start of the topics or a new group name (a new group starts at the
// beginning, and topics keep records forever), which replays the whole history. Such a
// message finds no inbox row and is decided again on the aggregates' current state. The
// reactions are idempotent by that state, which remembers every order by its id, so it
// has no second effect:
//
//   - inventory: OrderPlaced finds the order's reservation with an outcome (reserved,
//     failed or released) and reserves nothing; a release (OrderCancelled, OrderRejected,
//     PaymentDeclined) of a reservation that failed or was released records nothing.
//     Products keep nothing per order: the reservation stream, appended with them, knows;
//   - payments: each order's payment stream ("order_payment-<order id>", appended with the
//     account's events) remembers whether the order was captured, declined or refunded
//     (payment.OrderPayment), so a replayed OrderStockReserved charges nothing again and a
//     replayed refund refunds nothing again, while the account keeps only its balance; for
//     orders paid before those streams existed the account's own record of its older
//     payment events answers (see the payment package); an order of a customer without an
//     account is declined in its payment stream too, which a replay finds, whether or not
//     an account with that id exists by then;
//   - orders: a reaction to an order that is no longer pending writes only its inbox row,
//     and the settlement stream records the priced lines and the capture once each.
//
// The one gap, for orders declined as unknown_customer by releases before that: their
// decline is in a per-order decline stream (sagas.DeclineStreamType) that payments reads
// only when the customer has no account, so if an account with that customer id existed
// by the time of a replay, the replay would charge it for a rejected order. Customer ids
// are UUIDv7s that the server makes when it opens an account, so an order naming no
// account names one that will never exist.
//
// A replayed message then costs its aggregate loads and a new inbox row, and counts as
// outcome noop instead of duplicate in shopflow_saga_processed_total. Operators: redrive
// dead letters within the inbox retention to have the other reactors drop them by their
// inbox rows; a later redrive, or a group reset, re-decides every message it replays,
// which is safe and costs work in proportion to the history replayed. Developers: a new
// reaction must be idempotent by its aggregates' state, not by the inbox alone, unless
// the inbox retention is raised above the age of any message that can come back.
package eventstore
