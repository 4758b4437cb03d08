CREATE INDEX IF NOT EXISTS operator_presence_area ON intake.operator_presence (kecamatan);
