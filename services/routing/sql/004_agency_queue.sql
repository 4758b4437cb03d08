-- Agency work queue (projection "routing.agency_queue"): one row per referral.
CREATE TABLE IF NOT EXISTS routing.agency_queue (
    complaint_id        uuid NOT NULL,
    agency              text NOT NULL,
    kabupaten           text NOT NULL,
    registration_number text NOT NULL,
    category            text NOT NULL,
    status              text NOT NULL,
    routing_rule        text NOT NULL,
    referred_at         timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    outcome             text,
    PRIMARY KEY (complaint_id, agency)
);
CREATE INDEX IF NOT EXISTS agency_queue_open ON routing.agency_queue (agency, status, referred_at);
