-- The event store of one service database: events (which double as the outbox, read by the
-- relay through a gap-safe cursor), the relay's cursor, the inbox of processed messages and
-- the idempotency keys of API commands.

CREATE TABLE events (
    -- Global position: unique and increasing in insert order, NOT in commit order. Readers
    -- that follow the log order by (transaction_id, position) below a snapshot's xmin.
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       text        NOT NULL,
    stream_type     text        NOT NULL,
    version         bigint      NOT NULL CHECK (version > 0),
    event_id        uuid        NOT NULL UNIQUE,
    event_type      text        NOT NULL,
    schema_version  int         NOT NULL DEFAULT 1,
    -- json, not jsonb: stored verbatim. The store never queries inside payloads, and reading
    -- (the relay's and every rebuild's hot path) is then a copy, not a re-serialisation.
    payload         json        NOT NULL,
    -- correlation_id, causation_id, traceparent, tracestate and free-form keys.
    metadata        json        NOT NULL DEFAULT '{}',
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Optimistic concurrency: exactly one writer wins each version of a stream.
    CONSTRAINT events_stream_version UNIQUE (stream_id, version)
);

-- The relay's and ReadAll's scan order.
CREATE INDEX events_log_order ON events (transaction_id, position);

-- One row per relay (normally one per database): the last (transaction_id, position) whose
-- event the broker acknowledged. Only the relay holding the advisory lock writes it.
CREATE TABLE relay_cursors (
    name            text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT '0',
    position        bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Messages a consumer has already processed: written in the same transaction as the effects,
-- so a redelivered message has no second effect.
CREATE TABLE inbox (
    consumer        text        NOT NULL,
    message_id      text        NOT NULL,
    processed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

-- Idempotency-Key of API commands: the request's hash and the response first given, written
-- in the same transaction as the command's events.
CREATE TABLE idempotency_keys (
    key             text        PRIMARY KEY,
    request_hash    bytea       NOT NULL,
    status          int         NOT NULL,
    response        jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- shopflow_check_head raises SQLSTATE SF409 unless the stream's head is p_version and was
-- written by an older transaction than the caller's. Raising (rather than returning false)
-- aborts the rest of a pipelined write, so a write is one round trip. See Store.Write.
CREATE FUNCTION shopflow_check_head(p_stream text, p_version bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM events
                   WHERE stream_id = p_stream AND version = p_version
                     AND transaction_id < pg_current_xact_id()) THEN
        RAISE EXCEPTION 'stream % is not at version % for this transaction', p_stream, p_version
            USING ERRCODE = 'SF409';
    END IF;
END $$;
