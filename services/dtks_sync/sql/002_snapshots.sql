-- One row per import attempt. Exactly one row is `current` once the first import has
-- succeeded (003_snapshots_one_current.sql); the view dtks.individuals_current always reads
-- that row's table. `dropped` keeps the history of a snapshot whose table retention removed,
-- so a verification decision that names a snapshot id can still be traced to its file.
CREATE TABLE dtks.snapshots (
    id            text PRIMARY KEY,                 -- 2026-11-23T1015-<first 8 of checksum>
    table_name    text NOT NULL UNIQUE,             -- dtks.<table_name> holds its rows
    source        text NOT NULL,                    -- file name (or "load_people")
    checksum      text NOT NULL,                    -- sha256 of the file bytes
    status        text NOT NULL DEFAULT 'loading'
                  CHECK (status IN ('loading', 'current', 'retired', 'failed', 'dropped')),
    rows_read     bigint,
    rows_loaded   bigint,
    rows_rejected bigint,
    error         text,                             -- why a failed import failed
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,                      -- loaded and made current (or failed)
    retired_at    timestamptz
);
