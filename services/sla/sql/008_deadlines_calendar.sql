-- Which working-day calendar a clock was computed on: 'national', or '<kabupaten>:<hash>'
-- of that kabupaten's local holidays (services/sla/data/local_holidays.yaml).
ALTER TABLE sla.deadlines ADD COLUMN IF NOT EXISTS calendar text;
