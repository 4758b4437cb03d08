-- Projection (services/verification/projections.py): every complaint the verification
-- service knows, with the citizen it is about and where its decision stands. The manual
-- desk is the rows still `registered` that have a desk assessment (004).
CREATE TABLE verification.complaints (
    complaint_id        uuid PRIMARY KEY,
    registration_number text NOT NULL,
    kabupaten           text NOT NULL,
    category            text NOT NULL,
    wilayah             text NOT NULL,
    nik                 text NOT NULL,
    kk                  text,
    citizen_name        text NOT NULL,
    registered_at       timestamptz NOT NULL,
    stage               text NOT NULL,            -- registered | verified | rejected
    rule                text,
    reason_code         text,
    dtks_snapshot       text,
    decided_at          timestamptz
);
CREATE INDEX complaints_nik ON verification.complaints (nik);
CREATE INDEX complaints_open ON verification.complaints (registered_at) WHERE stage = 'registered';
