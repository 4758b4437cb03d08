-- Last notification id the broker confirmed, per relay stream; written only after confirms.
CREATE TABLE IF NOT EXISTS relay.positions (
    name        text PRIMARY KEY,
    position    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO relay.positions (name, position) VALUES ('main', 0) ON CONFLICT DO NOTHING;
