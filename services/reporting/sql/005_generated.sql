-- Recaps made by the monthly schedule (or on request), kept for download.
CREATE TABLE IF NOT EXISTS reporting.generated (
    period        text        NOT NULL,
    area          text        NOT NULL,
    format        text        NOT NULL,
    bytes         bytea       NOT NULL,
    log_position  bigint      NOT NULL,
    generated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (period, area, format)
);
