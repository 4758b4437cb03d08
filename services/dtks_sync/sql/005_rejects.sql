-- Rows of an imported file that failed validation: the line, a stable reason code
-- (docs/dtks-import-format.md) and the line as it was in the file.
CREATE TABLE dtks.rejects (
    snapshot_id text NOT NULL REFERENCES dtks.snapshots (id) ON DELETE CASCADE,
    line        bigint NOT NULL,
    reason      text NOT NULL,
    detail      text,
    raw         text NOT NULL,
    PRIMARY KEY (snapshot_id, line)
);
