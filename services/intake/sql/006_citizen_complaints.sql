-- Probable-duplicate lookup: one row per complaint, by citizen NIK and category
-- (projection "intake.citizen_complaints"). `registered_on` is the day in the registration
-- number (the paper form's day for backfilled complaints), so replay gives the same rows.
CREATE TABLE IF NOT EXISTS intake.citizen_complaints (
    complaint_id        uuid PRIMARY KEY,
    nik                 char(16) NOT NULL,
    category            text     NOT NULL,
    registration_number text     NOT NULL,
    registered_on       date     NOT NULL
);
