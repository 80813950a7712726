-- A new or moved source: which counted patrols passed within the source radius
-- (gridwatch_rules) of it.
CREATE OR REPLACE FUNCTION gridwatch_source_placed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    radius double precision := (gridwatch_rule_values()).source_radius_m;
BEGIN
    NEW.inspected_at := (
        SELECT max(v.observed_at)
          FROM cells nc
          JOIN cell_visits v ON v.cell_id = nc.id
         WHERE nc.is_leaf
           AND nc.geom && gridwatch_box(NEW.geom, radius)
           AND v.geom && gridwatch_box(NEW.geom, radius)
           AND ST_DWithin(v.geom::geography, NEW.geom::geography, radius));
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER sources_placed BEFORE INSERT OR UPDATE OF geom ON sources
    FOR EACH ROW EXECUTE FUNCTION gridwatch_source_placed();
