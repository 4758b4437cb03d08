-- One row per complaint: the facts a recap counts. No personal data: no NIK, KK, name,
-- phone or description; only codes, timestamps and outcomes.
CREATE TABLE IF NOT EXISTS reporting.recap (
    complaint_id    uuid        PRIMARY KEY,
    kabupaten       text        NOT NULL,
    province        text        NOT NULL,
    kecamatan       text,
    desa            text,
    desk            text        NOT NULL,
    channel         text        NOT NULL,
    category        text        NOT NULL,
    priority        text        NOT NULL,
    operator        text,
    registered_at   timestamptz NOT NULL,
    verified_at     timestamptz,
    rejected_at     timestamptz,
    reason_code     text,
    referred_at     timestamptz,
    agency          text,
    referrals       integer     NOT NULL DEFAULT 0,
    returned        integer     NOT NULL DEFAULT 0,
    open_referrals  integer     NOT NULL DEFAULT 0,
    resolved_at     timestamptz,
    breaches        integer     NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS recap_area_time ON reporting.recap (kabupaten, registered_at);
