-- Deadlines computed by the SLA policy: the rule and policy version that produced each row,
-- the at-risk instant, pauses, the complaint's board dimensions, and what the timer flagged
-- (breached_at / escalation_level are also set from the SlaBreached / Escalated events, so a
-- rebuild restores them from the log).
ALTER TABLE sla.deadlines
    ADD COLUMN IF NOT EXISTS policy_version     text,
    ADD COLUMN IF NOT EXISTS rule               jsonb,
    ADD COLUMN IF NOT EXISTS tz                 text,
    ADD COLUMN IF NOT EXISTS at_risk_at         timestamptz,
    ADD COLUMN IF NOT EXISTS paused_at          timestamptz,
    ADD COLUMN IF NOT EXISTS paused_seconds     double precision NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS breached_at        timestamptz,
    ADD COLUMN IF NOT EXISTS escalation_level   integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS at_risk_flagged_at timestamptz,
    ADD COLUMN IF NOT EXISTS kabupaten          text,
    ADD COLUMN IF NOT EXISTS kecamatan          text,
    ADD COLUMN IF NOT EXISTS agency             text,
    ADD COLUMN IF NOT EXISTS category           text,
    ADD COLUMN IF NOT EXISTS priority           text;
