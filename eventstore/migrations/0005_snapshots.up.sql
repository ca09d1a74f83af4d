-- Snapshots of aggregates: the state of a stream's aggregate at one version, so that loading
-- it reads the snapshot and the events after it instead of the whole stream (see
-- eventstore.Snapshot and command.Repository). One row per stream, the newest snapshot
-- taken; it is derived data, never the truth: the events are. Deleting rows (or the whole
-- table's contents) is always safe and only makes the next loads of those streams read
-- their whole history again, after which they are snapshotted anew.

CREATE TABLE snapshots (
    stream_id       text        PRIMARY KEY,
    stream_type     text        NOT NULL,
    -- the stream version whose state this is: the events after it are the tail to apply
    version         bigint      NOT NULL CHECK (version > 0),
    -- the version of the state's encoding, chosen by the aggregate type; a reader ignores a
    -- snapshot of a schema version it does not use
    schema_version  int         NOT NULL,
    -- opaque to the store: the aggregate type's encoding (JSON for Shopflow's aggregates)
    state           bytea       NOT NULL,
    taken_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
