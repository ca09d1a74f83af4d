-- Values that at most one stream may hold, such as a product's SKU or a customer's email:
-- claimed in the transaction that appends the stream's first events (eventstore.Write.Unique),
-- so two streams racing for a value cannot both commit. The primary key is the whole check.

CREATE TABLE unique_values (
    -- what kind of value, "<aggregate>.<field>": product.sku, account.email
    scope      text        NOT NULL,
    -- the value in its normalised form (the claimant decides: SKUs and emails are trimmed
    -- and lower-cased)
    value      text        NOT NULL,
    stream_id  text        NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT unique_values_pkey PRIMARY KEY (scope, value)
);

-- Claim the values of the streams created before this migration, the first registration of
-- a value winning, in the form command.normalForm gives them: trimmed of white space and
-- lower-cased. Postgres's and Go's forms agree on ASCII, which SKUs and nearly all emails
-- are. Only the inventory database holds ProductRegistered events and only the payments
-- database AccountOpened ones; elsewhere these select nothing.
INSERT INTO unique_values (scope, value, stream_id, claimed_at)
SELECT 'product.sku', lower(btrim(payload->>'sku', E' \t\n\v\f\r')), stream_id, recorded_at
FROM events WHERE event_type = 'ProductRegistered' ORDER BY position
ON CONFLICT DO NOTHING;

INSERT INTO unique_values (scope, value, stream_id, claimed_at)
SELECT 'account.email', lower(btrim(payload->>'email', E' \t\n\v\f\r')), stream_id, recorded_at
FROM events WHERE event_type = 'AccountOpened' ORDER BY position
ON CONFLICT DO NOTHING;
