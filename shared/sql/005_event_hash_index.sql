-- The anchor walks event hashes in notification (log) order.
CREATE UNIQUE INDEX IF NOT EXISTS event_hashes_notification ON audit.event_hashes (notification_id);
