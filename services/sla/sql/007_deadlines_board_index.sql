-- The SLA board's period queries: clocks by when they closed.
CREATE INDEX IF NOT EXISTS deadlines_closed_at ON sla.deadlines (closed_at)
    WHERE closed_at IS NOT NULL;
