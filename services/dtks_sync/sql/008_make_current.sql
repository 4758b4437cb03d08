-- Makes a fully loaded snapshot current: one transaction retires the old current row,
-- marks the new one current and redefines dtks.individuals_current over its table.
--
-- Why a view redefined in the swap transaction (and not a pointer row or a table rename):
-- a lookup is one statement on the view, and a statement sees either the old definition
-- or the new one, never a mix: CREATE OR REPLACE VIEW takes an ACCESS EXCLUSIVE lock on
-- the view, so it waits for the lookups running against it (well under a millisecond
-- each) and lookups arriving meanwhile wait for the commit, then read the new table.
-- Nothing fails, nothing reads a half-loaded table (a snapshot table is complete and
-- indexed before this runs), and a lookup needs no extra round trip to find the current
-- table. A pointer row would need that round trip or dynamic SQL per lookup; renaming
-- tables would briefly leave no table under the name.
--
-- lock_timeout bounds how long lookups can queue behind the swap if some long query
-- holds the view; the importer retries the swap.
CREATE FUNCTION dtks.make_current(p_snapshot text) RETURNS void
LANGUAGE plpgsql
SET lock_timeout = '500ms'
AS $$
DECLARE
    v_table text;
BEGIN
    SELECT table_name INTO v_table
      FROM dtks.snapshots WHERE id = p_snapshot AND status = 'loading' FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'snapshot % is not a loaded snapshot waiting to become current',
            p_snapshot USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM dtks.define_current_view(v_table, p_snapshot);
    UPDATE dtks.snapshots SET status = 'retired', retired_at = now() WHERE status = 'current';
    UPDATE dtks.snapshots SET status = 'current', finished_at = now() WHERE id = p_snapshot;
END
$$;
