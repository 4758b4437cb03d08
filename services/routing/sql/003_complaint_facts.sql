-- What the agency queue needs to know about each complaint, from its Registered event.
CREATE TABLE IF NOT EXISTS routing.complaint_facts (
    complaint_id        uuid PRIMARY KEY,
    registration_number text NOT NULL,
    kabupaten           text NOT NULL,
    category            text NOT NULL,
    wilayah             text NOT NULL,
    registered_at       timestamptz NOT NULL
);
