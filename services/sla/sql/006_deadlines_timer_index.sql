-- The timer's scan: open, running (not paused) clocks by due time.
CREATE INDEX IF NOT EXISTS deadlines_running_due ON sla.deadlines (due_at)
    WHERE closed_at IS NULL AND paused_at IS NULL;
