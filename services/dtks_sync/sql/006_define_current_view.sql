-- (Re)defines dtks.individuals_current over one snapshot table: the single definition of
-- the view, used for the initial empty view (007) and by every swap (008).
--
-- The view's columns never change (same names, types and collations for every snapshot,
-- because every snapshot table is LIKE dtks.individuals_template), so CREATE OR REPLACE
-- VIEW is allowed and prepared lookup statements are simply re-planned after a swap.
-- The snapshot id is a literal in the view, so every row a lookup sees carries the id of
-- the table it was read from.
CREATE FUNCTION dtks.define_current_view(p_table text, p_snapshot text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'CREATE OR REPLACE VIEW dtks.individuals_current AS '
        'SELECT %L::text AS snapshot_id, t.nik, t.kk, btrim(t.name) AS name, '
        't.birth_date::date AS birth_date, t.sex, t.wilayah, t.desil::smallint AS desil, '
        't.pkh = ''1'' AS pkh, t.bpnt = ''1'' AS bpnt, t.pbi_jk = ''1'' AS pbi_jk, '
        't.kip = ''1'' AS kip, t.pip = ''1'' AS pip, t.source_line '
        'FROM dtks.%I t',
        p_snapshot, p_table);
END
$$;
