-- The newest counted patrol within the source radius (app/rules.py, read from
-- gridwatch_rules) of each of the sources `ids`, from the history: sources.inspected_at,
-- which the gaps *now* and the spot checks read. Kept by the triggers of trg_cell_visits.sql
-- and trg_sources.sql.
CREATE OR REPLACE FUNCTION gridwatch_refresh_inspection(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    radius double precision := (gridwatch_rule_values()).source_radius_m;
BEGIN
    -- Lock first: the recomputation below then sees every visit committed before it.
    PERFORM 1 FROM sources WHERE id = ANY (ids) ORDER BY id FOR UPDATE;
    UPDATE sources s
       SET inspected_at = (
           SELECT max(v.observed_at)
             FROM cells nc
             JOIN cell_visits v ON v.cell_id = nc.id
            WHERE nc.is_leaf
              AND nc.geom && gridwatch_box(s.geom, radius)
              AND v.geom && gridwatch_box(s.geom, radius)
              AND ST_DWithin(v.geom::geography, s.geom::geography, radius))
     WHERE s.id = ANY (ids);
END $$;
