-- The DTKS replica: one schema for the snapshot bookkeeping, the per-snapshot tables and
-- the view every lookup reads (dtks.individuals_current).
CREATE SCHEMA IF NOT EXISTS dtks;
