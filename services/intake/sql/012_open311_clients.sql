-- Open311 GeoReport v2 client applications: each has an api key (only its SHA-256 is kept)
-- and the channel its complaints are registered under (channel statistics group by it).
CREATE TABLE IF NOT EXISTS intake.open311_clients (
    client_id   text PRIMARY KEY,
    name        text NOT NULL,
    channel     text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
-- GET requests filters by the day a complaint was registered and by its category.
CREATE INDEX IF NOT EXISTS complaint_status_registered_at
    ON intake.complaint_status (registered_at);
