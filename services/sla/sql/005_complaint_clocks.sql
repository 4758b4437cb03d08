-- Per complaint (projection "sla.deadlines"): the policy chosen when it was registered and
-- what every later clock needs (zone, category, priority, board dimensions, pause state).
CREATE TABLE IF NOT EXISTS sla.complaint_clocks (
    complaint_id   uuid PRIMARY KEY,
    policy         text        NOT NULL,
    policy_version text        NOT NULL,
    tz             text        NOT NULL,
    kabupaten      text        NOT NULL,
    kecamatan      text,
    category       text,
    priority       text,
    agency         text,
    registered_at  timestamptz NOT NULL,
    resolved_at    timestamptz,
    paused_at      timestamptz
);
