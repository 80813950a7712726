-- Counted patrols added to or removed from the history: the sources within the source
-- radius (gridwatch_rules) of them move their last inspection (sources.inspected_at).

-- New counted patrols advance the sources they pass near. Every such source row is updated
-- (and so locked) even when its time does not move: a concurrent recomputation (a patrol
-- voided nearby) then waits for this one and sees its patrol.
CREATE OR REPLACE FUNCTION gridwatch_visits_added() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    radius double precision := (gridwatch_rule_values()).source_radius_m;
BEGIN
    UPDATE sources s
       SET inspected_at = GREATEST(s.inspected_at, v.at)
      FROM (SELECT s2.id, max(n.observed_at) AS at
              FROM new_rows n
              JOIN sources s2 ON s2.geom && gridwatch_box(n.geom, radius)
                             AND ST_DWithin(s2.geom::geography, n.geom::geography, radius)
             GROUP BY s2.id
             ORDER BY s2.id) v
     WHERE s.id = v.id;
    RETURN NULL;
END $$;

-- Removed patrols (a report stopped counting): recompute the sources near them.
CREATE OR REPLACE FUNCTION gridwatch_visits_removed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    radius double precision := (gridwatch_rule_values()).source_radius_m;
    ids bigint[];
BEGIN
    SELECT array_agg(DISTINCT s.id) INTO ids
      FROM old_rows o
      JOIN sources s ON s.geom && gridwatch_box(o.geom, radius)
                    AND ST_DWithin(s.geom::geography, o.geom::geography, radius);
    IF ids IS NOT NULL THEN
        PERFORM gridwatch_refresh_inspection(ids);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER cell_visits_inserted AFTER INSERT ON cell_visits
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_visits_added();
CREATE OR REPLACE TRIGGER cell_visits_deleted AFTER DELETE ON cell_visits
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_visits_removed();
