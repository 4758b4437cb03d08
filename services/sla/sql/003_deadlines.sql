-- Durable deadlines, one row per complaint stage (projection "sla.deadlines"); due times
-- are computed from event timestamps, so replaying the log recomputes the same rows.
CREATE TABLE IF NOT EXISTS sla.deadlines (
    complaint_id uuid        NOT NULL,
    stage        text        NOT NULL,
    policy       text        NOT NULL,
    started_at   timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    closed_at    timestamptz,
    PRIMARY KEY (complaint_id, stage)
);
CREATE INDEX IF NOT EXISTS deadlines_open_due ON sla.deadlines (due_at) WHERE closed_at IS NULL;
