-- Routing tables an admin stored at run time, one row per kabupaten/kota and version; the
-- highest version is in force. Version 0 is the data file (services/routing/data).
CREATE TABLE IF NOT EXISTS routing.tables (
    kabupaten  text        NOT NULL,
    version    integer     NOT NULL CHECK (version > 0),
    document   jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text        NOT NULL,
    PRIMARY KEY (kabupaten, version)
);
