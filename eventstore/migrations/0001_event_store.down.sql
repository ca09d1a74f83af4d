DROP FUNCTION IF EXISTS shopflow_check_head(text, bigint);
DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS inbox;
DROP TABLE IF EXISTS relay_cursors;
DROP TABLE IF EXISTS events;
