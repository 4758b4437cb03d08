-- One row per referral of a complaint to an agency: SLA compliance per agency counts the
-- closed ones (resolved or returned) and whether an agency-stage SlaBreached came first.
CREATE TABLE IF NOT EXISTS reporting.recap_referrals (
    complaint_id uuid        NOT NULL,
    agency       text        NOT NULL,
    referred_at  timestamptz NOT NULL,
    closed_at    timestamptz,
    closed_as    text,
    breached     boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (complaint_id, agency)
);
