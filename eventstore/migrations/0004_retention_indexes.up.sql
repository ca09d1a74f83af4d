-- Indexes for retention (eventstore.Pruner): inbox rows older than the inbox retention and
-- idempotency keys older than theirs are deleted oldest first, in small batches. With these
-- indexes a pass that finds nothing to delete is one index probe per table, under any plan;
-- without them every pass would scan both tables.
--
-- Plain CREATE INDEX, not CONCURRENTLY. golang-migrate's pgx driver sends a migration file
-- as one simple-protocol query, which Postgres runs as one implicit transaction when it
-- holds several statements, and CREATE INDEX CONCURRENTLY refuses to run in a transaction
-- block. It would need one file per index (or x-multi-statement), and a concurrent build
-- that fails leaves an INVALID index behind and the schema version dirty, to be repaired by
-- hand. A plain build holds a SHARE lock: it blocks inserts into the table (saga inbox
-- entries, Idempotency-Key records) while it runs, and blocks no reads. The indexed
-- columns are single timestamps, so the build is a sort of 8-byte keys (measured on a
-- development machine: 1.5 s for 2 million inbox rows), done once, when the first process
-- of the new version migrates. Both indexes are built in the file's one transaction: both
-- or neither.
--
-- A database whose tables already hold so many rows that a write pause of that length is
-- too long: create the same indexes first by hand with CREATE INDEX CONCURRENTLY (and
-- check pg_index.indisvalid), then migrate; IF NOT EXISTS makes this migration a no-op.

CREATE INDEX IF NOT EXISTS inbox_processed_at ON inbox (processed_at);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at);
