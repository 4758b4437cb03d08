-- Per operator and day (Asia/Jakarta): last action and complaints registered.
CREATE TABLE IF NOT EXISTS intake.operator_activity (
    operator_id    text        NOT NULL,
    day            date        NOT NULL,
    desk           text,
    complaints     integer     NOT NULL DEFAULT 0,
    last_action    text        NOT NULL,
    last_action_at timestamptz NOT NULL,
    PRIMARY KEY (operator_id, day)
);
