-- Saga state of the orders context: the orders still waiting to be settled, so that the
-- settlement deadline scanner (sagas package) finds them with an index instead of scanning the
-- whole log. The table is derived from the events table by a trigger, in the very transaction
-- that appends the event: an order is pending from its OrderPlaced (version 1) until its first
-- OrderConfirmed, OrderRejected or OrderCancelled. No command or saga code writes it, so it can
-- never disagree with the streams, and it can always be rebuilt from them.
--
-- Migrations are shared by every service database; in the inventory and payments databases no
-- event matches the trigger's WHEN clause, so the table stays empty there.

CREATE TABLE pending_orders (
    order_id   text        PRIMARY KEY,
    -- recorded_at of the OrderPlaced event; the deadline is placed_at + the configured timeout,
    -- computed when scanning so that changing the timeout needs no data migration.
    placed_at  timestamptz NOT NULL
);

CREATE INDEX pending_orders_placed_at ON pending_orders (placed_at);

CREATE FUNCTION shopflow_track_pending_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event_type = 'OrderPlaced' THEN
        INSERT INTO pending_orders (order_id, placed_at)
        VALUES (NEW.payload->>'order_id', NEW.recorded_at)
        ON CONFLICT (order_id) DO NOTHING;
    ELSE
        DELETE FROM pending_orders WHERE order_id = NEW.payload->>'order_id';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER events_pending_orders AFTER INSERT ON events
FOR EACH ROW
WHEN (NEW.stream_type = 'order' AND (
        (NEW.event_type = 'OrderPlaced' AND NEW.version = 1)
     OR NEW.event_type IN ('OrderConfirmed', 'OrderRejected', 'OrderCancelled')))
EXECUTE FUNCTION shopflow_track_pending_order();

-- Orders placed before this migration and not settled yet.
INSERT INTO pending_orders (order_id, placed_at)
SELECT p.payload->>'order_id', p.recorded_at
FROM events p
WHERE p.stream_type = 'order' AND p.event_type = 'OrderPlaced' AND p.version = 1
  AND NOT EXISTS (SELECT 1 FROM events s WHERE s.stream_id = p.stream_id AND s.version > 1)
ON CONFLICT (order_id) DO NOTHING;
