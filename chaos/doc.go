// Package chaos is Shopflow's fault suite (make chaos): a run starts a scratch stack of its
// own, drives a mixed load through the public HTTP API, injects faults one after another
// with recovery in between, waits until the stack has nothing left to do, and checks from
// the stores themselves — not from the API's word — that nothing was lost or done twice.
//
// # The scratch stack
//
// Stack runs Postgres, Kafka and Elasticsearch with the project's scripts under a state
// directory of its own (.shopflow-chaos/<name> by default) on ports the kernel hands out,
// and its own shopflow serve processes, so the faults (kill -9, SIGSTOP, an immediate
// Postgres stop) never touch the stack of make up or the servers other tests use. Each run
// wipes the scratch data first (every event, record and document then belongs to the run)
// and reuses the Kafka and Elasticsearch jars of the main state directory by hard links.
//
// # Load
//
// Load seeds products (a hot one with ample stock, a scarce one with 5 units) and
// customers (a poor one with 50 cents), then sends, at a fixed rate, each command from its
// own goroutine: orders spread uniformly, on the hot product, on the scarce one, by the
// poor customer, for unknown products and unknown customers; cancels of recent orders;
// restocks; deposits. A command that gets no answer, a 429 or a 5xx is retried with the same
// Idempotency-Key, as a careful client does, so retries across a crash test idempotency
// too. A few undecodable records are produced to orders.events on purpose (Poison): the
// consumers must dead-letter them and go on.
//
// # Faults
//
// Faults lists them: kill -9 of shopflow serve, SIGSTOP/SIGCONT of it, kill -9 of the
// Kafka broker and of Elasticsearch, an immediate Postgres stop, and a failover: a second
// instance joins, the first (which holds the relays' advisory locks) is killed and stays
// down while the second serves alone.
//
// # Checks
//
// After quiescence (no order pending, every event published, every consumer group at the
// end of its partitions), Gather reads every event of the three databases, every record of
// the event and dead-letter topics, and every read-model document; the streams are folded
// by the domain code itself (the aggregate types' Load of internal/command, from the
// events, never from snapshots). Check then runs, each as one line of the report:
//
//   - accepted: every command answered 2xx has its event in its store;
//   - final: every order is confirmed, rejected or cancelled;
//   - stock: no stock negative, units conserved, reservations held exactly by the
//     confirmed orders;
//   - money: no balance negative, each balance its deposits less its confirmed orders,
//     every confirmed order captured at its total and no other order keeping a capture;
//   - once: no reservation, release, capture, refund or outcome twice for an order;
//   - kafka: every Postgres event on its topic with the same id, each stream on one
//     partition in version order (redeliveries allowed), no record Postgres does not hold;
//   - read_models: every order, product and customer document equals its stream's fold;
//   - dead_letters: the dead-letter topics hold only the poisoned records, and each of
//     those is dead-lettered.
//
// Liveness per fault: how long the fault lasted, how long until /readyz was green, how
// long after recovery the saga confirmed an order again, the longest time without a
// confirmation, and how many orders were rejected for timeout because of it.
package chaos
