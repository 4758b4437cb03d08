-- The DTKS snapshot the desk was last re-evaluated against (one row), so a new snapshot
-- re-evaluates the desk once, also across restarts and several service instances.
CREATE TABLE verification.snapshot_seen (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    snapshot_id text NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now()
);
