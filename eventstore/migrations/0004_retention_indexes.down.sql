DROP INDEX IF EXISTS idempotency_keys_created_at;
DROP INDEX IF EXISTS inbox_processed_at;
