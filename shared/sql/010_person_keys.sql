-- One data key per person (subject = HMAC of the NIK under a key derived from the master
-- key; the NIK itself is never stored here). `wrapped_key` is the AES-256 data key sealed
-- with the master key; erasure sets it NULL and `shredded_at`, after which every event
-- sealed with `key_id` reads as "[dihapus]". A later registration of the same NIK gets a
-- new key (the unique index covers live keys only).
CREATE TABLE IF NOT EXISTS keystore.person_keys (
    key_id      uuid PRIMARY KEY,
    subject     bytea NOT NULL,
    wrapped_key bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    shredded_at timestamptz,
    CHECK ((wrapped_key IS NULL) = (shredded_at IS NOT NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS person_keys_live_subject
    ON keystore.person_keys (subject) WHERE shredded_at IS NULL;
