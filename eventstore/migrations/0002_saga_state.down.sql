DROP TRIGGER IF EXISTS events_pending_orders ON events;
DROP FUNCTION IF EXISTS shopflow_track_pending_order();
DROP TABLE IF EXISTS pending_orders;
