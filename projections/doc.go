// Package projections keeps Shopflow's Elasticsearch read models — orders, products and
// customers — up to date from the event topics, rebuilds them without read downtime, and
// answers the read API's queries (Reader).
//
// # Indices and aliases
//
// Each read model lives in a versioned index <prefix><model>_v<generation> with explicit,
// strict settings and mappings; the mapping version, generation and state are kept in the
// mapping's _meta. The read API and the live workers only use the alias <prefix><model>,
// which points at exactly one index, marked is_write_index. The first worker to start creates
// generation 1 together with the alias (one atomic request). A rebuild creates generation n+1
// and moves the alias in one _aliases request (remove + add), so readers always find exactly
// one index. Config.IndexPrefix isolates tests (and deployments sharing a cluster).
//
// # Idempotent, order-safe writes
//
// Every document carries the version of its stream and is written with
// version_type=external: Elasticsearch refuses (409) any write whose version is not above the
// stored one, so a duplicate or stale event can never overwrite newer state, whichever worker
// or rebuild sends it. A worker applies a batch like this: decode the records (undecodable
// ones are dead-lettered), group the events by document in arrival order (a stream's events
// keep their partition order, so one document's events apply sequentially), take the current
// documents from the worker's cache or, for those it lacks, one real-time _mget (a document
// whose events start at its stream's first needs neither), apply each event whose version is
// the document's next one (skip those already applied), write the changed documents with one
// _bulk, and only then commit the records' offsets (asynchronously: franz-go keeps commits
// in order, and a revocation or stop commits synchronously). A 409 on an item counts as
// done; 429/5xx or Elasticsearch down make the whole batch retry with backoff (it is
// idempotent), nothing committed meanwhile; an item refused for good (e.g. a mapping
// conflict) dead-letters the events it held and the other items stand.
//
// The cache (Config.CacheSize documents, least recently used out) holds each document as the
// worker last wrote or read it, with its external version. It saves the _mget of nearly
// every batch, and it may be stale: another worker may have written the document since (a
// join repair, or, after a rebuild's swap, the rebuild). That is safe because a stale copy
// can only lack what the other writer added: an older stream version makes the write
// refused (409, and a 409 or refusal evicts the entry), and a missing join is filled in
// again before the write, from references read from the index. Revocation empties the cache.
// Reference data, which never changes, is cached apart.
//
// Every event of a stream changes its document, so an event more than one version ahead of
// its document reveals that the index lacks events of that stream. A live worker then waits
// (retries the batch) — this is what makes the rebuild's cut-over safe, see below — and
// applies over the gap after Config.GapTimeout (the missing event was dead-lettered), unless
// the index is marked catching_up. A rebuild applies at once.
//
// # Joining streams: orders show products and customers
//
// An order document shows its lines' product names and SKUs and its customer's name and
// e-mail, which come from other streams that arrive in any order relative to the order's.
// The orders model reads all three topics and keeps, in its own index, a reference document
// per product and customer (id = their stream id, "product-<id>", "account-<id>"; kinds
// product_ref and customer_ref; these data never change after the stream's first event). It
// never reads the products or customers read models, so it is rebuilt on its own and never
// depends on their progress.
//
// Joining without scripts or _update_by_query: before writing, a batch fills each order's
// missing references from the batch itself or a real-time _mget; an order still lacking some
// lists their ids in missing_refs. After the write each side checks the other: an order
// written with missing references reads them again (_mget), and a written reference
// refreshes the index and searches the orders whose missing_refs name it, joins it — with any
// other reference now present — and writes them back. Both sides write before they read, so
// whatever the interleaving (one worker or many) at least one of them sees both. A repair
// must never be overwritten by a less complete write of the same order version (two repairs
// racing, each adding a different reference): orders are therefore written with external
// version = stream version × 1024 + number of joined references. A more complete join wins,
// a newer order version wins over any join of an older one, and equal versions have equal
// content once all references exist. (external_gte alone would let a less complete repair
// overwrite a more complete one.) Status and versions exposed to clients are the stream
// version; the Elasticsearch version serves as ETag.
//
// Repairs cost a second write, and a backlog read from all topics at once would repair most
// orders. So a worker starts with the orders topic paused until its first poll finds the
// product and account topics at their high watermark, and a rebuild replays those topics
// before the orders topic: orders are then joined when first written. This only orders the
// work; correctness never depends on it.
//
// # Consumers, offsets, dead letters, lag
//
// Each read model has its own consumer group (Config.Group), franz-go, Kafka's classic group
// protocol with the cooperative-sticky balancer (KIP-848 is opt-in in franz-go and
// recommended from Kafka 4.3; the brokers run 4.1). Auto-commit is off: offsets are
// committed after the batch is stored. BlockRebalanceOnPoll keeps rebalances out of a batch
// in flight, so revocation only commits what is stored, synchronously. A new group starts
// at the beginning of the topics. Records that can never apply go to Config.DeadLetterTopic
// (projections.dlt) with the original key, value and headers plus dlt-error,
// dlt-source-topic/-partition/-offset, dlt-consumer and dlt-failed-at, and processing goes on.
// A rebuild dead-letters again what it cannot apply (dlt-consumer names the rebuild).
// Metrics (see Metrics): applied events, dead letters, retries, gaps, and lag in records
// (high watermark − position) and seconds (age of the last applied event while records are
// pending).
//
// # Rebuild and the live worker
//
// Rebuild creates the next generation (refresh off), reads every partition with a group-less
// consumer from its start offset to the end offsets captured at start (progress reported per
// batch), then catches up round after round with the end offsets (which are at or past the
// live group's commits) while the live worker keeps serving and writing through the alias
// into the old index. Then it turns refresh back on, marks the new index catching_up and
// swaps the alias atomically: reads and the live worker's next _mget/_bulk (they always go
// through the alias, resolved per request) now use the new index. The live worker may have
// applied events to the old index that the rebuild has not read yet; its next event of such a
// stream is then ahead of the new index's document, so it waits on the gap (unless the
// document is in its cache: it then writes it complete, and the rebuild's older writes of it
// are refused). The rebuild
// reads on to the end offsets captured after the swap — past anything the live worker can
// have written to the old index — marks the index live, waits Config.DeleteGrace for reads
// that resolved the alias before the swap, and deletes the old index. During the swap a
// document created in the last moments before it may be briefly absent from searches (not
// from min_version reads, which wait). The live worker and the rebuild never talk to each
// other: Elasticsearch (alias, versions, _meta) and Kafka (offsets) coordinate them, so the
// rebuild runs as a separate process (shopflow projections rebuild).
package projections
