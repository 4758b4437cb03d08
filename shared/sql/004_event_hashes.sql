-- Tamper evidence (issue 8): one row per stored event, hash chained to the previous event of
-- the same stream. Filled by a trigger on the events table, so no writer can forget it.
CREATE TABLE IF NOT EXISTS audit.event_hashes (
    originator_id      uuid   NOT NULL,
    originator_version bigint NOT NULL,
    notification_id    bigint NOT NULL,
    prev_hash          bytea,
    hash               bytea  NOT NULL,
    PRIMARY KEY (originator_id, originator_version)
);
