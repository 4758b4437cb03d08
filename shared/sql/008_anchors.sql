-- Periodic anchors over the whole notification log: the rolling hash of every event hash
-- up to a notification id. Deleting an event together with its hash row, or rewriting a
-- whole stream's chain, changes the rolling hash an earlier anchor recorded.
CREATE TABLE IF NOT EXISTS audit.anchors (
    up_to_notification_id bigint PRIMARY KEY,
    events                bigint NOT NULL,
    rolling_hash          bytea  NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now()
);
