-- Why an undecided complaint needs a human: written by the automatic evaluation (it is not
-- a decision, so not an event), refreshed when a new DTKS snapshot re-evaluates it. A row
-- counts as "on the desk" only while verification.complaints says `registered`; the
-- projection deletes it when Verified/Rejected arrives. Not a projection table, so a
-- projection rebuild keeps the assessments.
CREATE TABLE verification.desk_assessments (
    complaint_id  uuid PRIMARY KEY,
    desk_reason   text NOT NULL,       -- name_mismatch | nik_not_found_kk_found | registry_stale | registry_empty
    detail        text NOT NULL,
    rule          text NOT NULL,
    dtks_snapshot text NOT NULL,
    assessed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX desk_assessments_reason ON verification.desk_assessments (desk_reason, assessed_at);
