-- Personal data is sealed per customer (package internal/pii): each customer's key lives
-- here, in the database of the payments context that owns customers, and nowhere else.
-- Destroying a key sets it to NULL and keeps the row, so that readers tell a forgotten
-- customer (NULL key) from one whose data predates sealing (no row). Only the payments
-- database uses this table; the migrations of every service database are the same.

CREATE TABLE customer_keys (
    customer_id  text        PRIMARY KEY,
    key          bytea       CHECK (key IS NULL OR length(key) = 32),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    destroyed_at timestamptz,
    CONSTRAINT customer_keys_destroyed CHECK ((key IS NULL) = (destroyed_at IS NOT NULL))
);

-- Emails are claimed unique by their SHA-256 digest (hex) instead of in clear, so that the
-- claims table holds no readable address; a forgotten customer's claim is deleted. The
-- digest is of the same normal form (trimmed, lower-cased) the claims were made in.
UPDATE unique_values SET value = encode(sha256(convert_to(value, 'UTF8')), 'hex')
WHERE scope = 'account.email';
