-- Hotspots the grid missed, filed, moved or rejected as unfounded: recompute their cells'
-- missed problems (fn_refresh_missed.sql).
CREATE OR REPLACE FUNCTION gridwatch_hotspots_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE cells bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(cell_id) INTO cells FROM new_rows WHERE missed_by_grid;
    ELSE
        SELECT array_agg(cell_id) INTO cells
          FROM (SELECT n.cell_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                 WHERE (n.missed_by_grid OR o.missed_by_grid)
                   AND (n.missed_by_grid, n.cell_id, n.found_at)
                       IS DISTINCT FROM (o.missed_by_grid, o.cell_id, o.found_at)
                UNION
                SELECT o.cell_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                 WHERE o.missed_by_grid AND n.cell_id IS DISTINCT FROM o.cell_id) x;
    END IF;
    IF cells IS NOT NULL THEN
        PERFORM gridwatch_lock_cells(cells);
        PERFORM gridwatch_refresh_missed(cells);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION gridwatch_hotspot_rejected() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    unfounded text[] := (gridwatch_rule_values()).unfounded_statuses;
    cells bigint[];
BEGIN
    SELECT array_agg(h.cell_id) INTO cells
      FROM new_rows n JOIN hotspots h ON h.id = n.hotspot_id
     WHERE n.to_status = ANY (unfounded) AND h.missed_by_grid;
    IF cells IS NOT NULL THEN
        PERFORM gridwatch_lock_cells(cells);
        PERFORM gridwatch_refresh_missed(cells);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER hotspots_inserted AFTER INSERT ON hotspots
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_hotspots_changed();
CREATE OR REPLACE TRIGGER hotspots_updated AFTER UPDATE ON hotspots
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_hotspots_changed();
CREATE OR REPLACE TRIGGER hotspot_events_inserted AFTER INSERT ON hotspot_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_hotspot_rejected();
