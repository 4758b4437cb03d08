-- Priority, confidentiality and the probable-duplicate link on the status read model.
ALTER TABLE intake.complaint_status
    ADD COLUMN IF NOT EXISTS priority     text    NOT NULL DEFAULT 'normal',
    ADD COLUMN IF NOT EXISTS confidential boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS duplicate_of uuid;
