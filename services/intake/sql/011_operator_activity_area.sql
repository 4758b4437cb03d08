CREATE INDEX IF NOT EXISTS operator_activity_desk ON intake.operator_activity (desk, day);
