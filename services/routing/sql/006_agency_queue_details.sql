-- Agency work queue: what the agency did with each referral, and the routing table version.
ALTER TABLE routing.agency_queue
    ADD COLUMN IF NOT EXISTS routing_table_version integer,
    ADD COLUMN IF NOT EXISTS accepted_at   timestamptz,
    ADD COLUMN IF NOT EXISTS returned_at   timestamptz,
    ADD COLUMN IF NOT EXISTS return_reason text,
    ADD COLUMN IF NOT EXISTS resolved_at   timestamptz,
    ADD COLUMN IF NOT EXISTS notes         integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS last_note     text;
