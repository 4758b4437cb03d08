-- Who is at a desk now: one row per operator, moved by login / heartbeat / logout and by
-- every event the operator caused (projection "intake.operator_activity" keeps last_action*).
CREATE TABLE IF NOT EXISTS intake.operator_presence (
    operator_id    text        PRIMARY KEY,
    desk           text        NOT NULL,
    kecamatan      char(6)     NOT NULL,
    kabupaten      char(4)     NOT NULL,
    session_id     uuid,
    logged_in_at   timestamptz,
    last_seen_at   timestamptz,
    logged_out_at  timestamptz,
    last_action    text,
    last_action_at timestamptz
);
