-- The email digests of unique_values cannot be turned back into addresses: they stay.
DROP TABLE customer_keys;
