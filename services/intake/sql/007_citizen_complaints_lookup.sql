CREATE INDEX IF NOT EXISTS citizen_complaints_lookup
    ON intake.citizen_complaints (nik, category, registered_on);
