-- Duties inserted, changed or removed: recompute their cells' staffing (fn_refresh_staff.sql).
CREATE OR REPLACE FUNCTION gridwatch_duties_changed() RETURNS trigger
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
        PERFORM gridwatch_lock_cells(cells);
        PERFORM gridwatch_refresh_staff(cells);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER duties_inserted AFTER INSERT ON duties
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_duties_changed();
CREATE OR REPLACE TRIGGER duties_updated AFTER UPDATE ON duties
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_duties_changed();
CREATE OR REPLACE TRIGGER duties_deleted AFTER DELETE ON duties
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_duties_changed();
