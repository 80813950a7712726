-- The per-parent roll-up (fn_refresh_rollup.sql) follows whatever moves a leaf's part in it:
-- its summary row (every summary writer goes through cell_status: app/domain/status.py and
-- the duty, hotspot and patrol triggers), the sources in it, and the tree itself. Each
-- statement notes the parents; the transaction's commit recomputes them once. A written cell
-- also gets its low-zoom outlines again (gridwatch_refresh_outlines).
CREATE OR REPLACE FUNCTION gridwatch_rollup_status_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE cells bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(cell_id) INTO cells FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(cell_id) INTO cells FROM old_rows;
    ELSE
        SELECT array_agg(cell_id) INTO cells FROM new_rows;
    END IF;
    IF cells IS NOT NULL THEN
        PERFORM gridwatch_rollup_touch(cells);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION gridwatch_rollup_sources_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE cells bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(cell_id) INTO cells FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(cell_id) INTO cells FROM old_rows;
    ELSE
        SELECT array_agg(cell_id) INTO cells
          FROM (SELECT cell_id FROM new_rows UNION SELECT cell_id FROM old_rows) x;
    END IF;
    IF cells IS NOT NULL THEN
        PERFORM gridwatch_rollup_touch(cells);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION gridwatch_rollup_cells_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE parents bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(coalesce(parent_id, 0)) INTO parents FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(coalesce(parent_id, 0)) INTO parents FROM old_rows;
    ELSE
        SELECT array_agg(p) INTO parents
          FROM (SELECT coalesce(parent_id, 0) AS p FROM new_rows
                UNION SELECT coalesce(parent_id, 0) FROM old_rows) x;
    END IF;
    IF parents IS NOT NULL THEN
        PERFORM gridwatch_rollup_touch_parents(parents);
    END IF;
    IF TG_OP <> 'DELETE' THEN  -- deleted cells' outlines go with them (foreign key)
        PERFORM gridwatch_refresh_outlines(ARRAY(SELECT id FROM new_rows));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER cell_status_inserted_rollup AFTER INSERT ON cell_status
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_rollup_status_changed();
CREATE OR REPLACE TRIGGER cell_status_updated_rollup AFTER UPDATE ON cell_status
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_rollup_status_changed();
CREATE OR REPLACE TRIGGER cell_status_deleted_rollup AFTER DELETE ON cell_status
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_rollup_status_changed();
CREATE OR REPLACE TRIGGER sources_inserted_rollup AFTER INSERT ON sources
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_rollup_sources_changed();
CREATE OR REPLACE TRIGGER sources_updated_rollup AFTER UPDATE ON sources
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_rollup_sources_changed();
CREATE OR REPLACE TRIGGER sources_deleted_rollup AFTER DELETE ON sources
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_rollup_sources_changed();
CREATE OR REPLACE TRIGGER cells_inserted_rollup AFTER INSERT ON cells
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_rollup_cells_changed();
CREATE OR REPLACE TRIGGER cells_updated_rollup AFTER UPDATE ON cells
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_rollup_cells_changed();
CREATE OR REPLACE TRIGGER cells_deleted_rollup AFTER DELETE ON cells
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_rollup_cells_changed();

-- The commit-time recomputation. A constraint trigger has no CREATE OR REPLACE: made when
-- missing (dropping the function drops it too), so this file stays replayable.
DO $$
BEGIN
    IF to_regclass('cell_rollup_dirty') IS NOT NULL  -- not before migration 0014
       AND NOT EXISTS (SELECT 1 FROM pg_trigger
                        WHERE tgname = 'cell_rollup_dirty_flush'
                          AND tgrelid = to_regclass('cell_rollup_dirty')) THEN
        CREATE CONSTRAINT TRIGGER cell_rollup_dirty_flush AFTER INSERT ON cell_rollup_dirty
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION gridwatch_rollup_flush();
    END IF;
END $$;
