-- At most one current snapshot, enforced by the database rather than by the importer.
CREATE UNIQUE INDEX snapshots_one_current ON dtks.snapshots ((true)) WHERE status = 'current';
