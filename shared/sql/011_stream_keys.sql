-- Which person's key seals a complaint's later events (Verified reasons, notes, outcomes):
-- those events carry no NIK, so the writer finds the key by the complaint id.
CREATE TABLE IF NOT EXISTS keystore.stream_keys (
    originator_id uuid PRIMARY KEY,
    key_id        uuid NOT NULL REFERENCES keystore.person_keys (key_id)
);
CREATE INDEX IF NOT EXISTS stream_keys_key ON keystore.stream_keys (key_id);
