-- Projection of UsulanProposed: citizens rejected as not in DTKS whom a verifier found
-- eligible, to be exported per desa for the DTKS update cycle (docs/usulan-format.md).
CREATE TABLE verification.usulan (
    complaint_id        uuid PRIMARY KEY,
    registration_number text NOT NULL,
    kabupaten           text NOT NULL,
    desa                text NOT NULL,
    nik                 text NOT NULL,
    kk                  text,
    citizen_name        text NOT NULL,
    category            text NOT NULL,
    reason              text NOT NULL,
    proposed_by         text NOT NULL,
    proposed_at         timestamptz NOT NULL
);
CREATE INDEX usulan_desa ON verification.usulan (kabupaten, desa);
