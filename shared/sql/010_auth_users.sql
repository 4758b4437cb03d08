-- Who may get a token, with which role and area (shared.auth.REQUIRED_AREA says which
-- area claims a role needs). No passwords: tokens are issued by `sedulur users token`
-- (or an identity provider in front); this table is what a token may claim.
CREATE TABLE IF NOT EXISTS auth.users (
    user_id      text PRIMARY KEY,
    role         text NOT NULL CHECK (role IN ('operator', 'verifier', 'supervisor', 'agency',
                                               'auditor', 'admin', 'system')),
    desk         text,
    kecamatan    text,
    kabupaten    text,
    agency       text,
    display_name text,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);
