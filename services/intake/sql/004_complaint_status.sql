-- Complaint status for desks and the citizen lookup (projection "intake.complaint_status").
CREATE TABLE IF NOT EXISTS intake.complaint_status (
    complaint_id        uuid PRIMARY KEY,
    registration_number text NOT NULL UNIQUE,
    kabupaten           text NOT NULL,
    desk                text NOT NULL,
    channel             text NOT NULL,
    category            text NOT NULL,
    nik_last4           char(4) NOT NULL,
    stage               text NOT NULL,
    agencies            text[] NOT NULL DEFAULT '{}',
    reason_code         text,
    registered_by       text NOT NULL,
    registered_at       timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    version             bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS complaint_status_desk ON intake.complaint_status (desk, registered_at);
