-- Every erasure on request: who, when, why, which keys and complaints. The person is named
-- only by the keyed hash of the NIK (the same `subject` as keystore.person_keys), so a
-- repeated request can be recognised without keeping the NIK.
CREATE TABLE IF NOT EXISTS audit.erasures (
    id                bigserial PRIMARY KEY,
    subject           bytea NOT NULL,
    key_ids           uuid[] NOT NULL,
    complaints        uuid[] NOT NULL,
    plaintext_streams uuid[] NOT NULL DEFAULT '{}',
    reason            text NOT NULL,
    actor             text NOT NULL,
    erased_at         timestamptz NOT NULL DEFAULT now()
);
