-- The rule values of app/rules.py for the database's own functions, which triggers call
-- without parameters: the one row of gridwatch_rules, which the application writes from the
-- same definitions (app/domain/status.py:keep_rules_in_step). A missing row is an error,
-- never a silent default.
CREATE OR REPLACE FUNCTION gridwatch_rule_values() RETURNS gridwatch_rules
LANGUAGE plpgsql STABLE AS $$
DECLARE
    found_row gridwatch_rules;
BEGIN
    SELECT * INTO found_row FROM gridwatch_rules;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'gridwatch_rules holds no row: run `gridwatch migrate`';
    END IF;
    RETURN found_row;
END $$;

-- A box in degrees around a WGS-84 point that holds every point within radius_m of it: the
-- index prefilter (&&) ahead of an exact ST_DWithin. A degree of latitude is at least
-- 110.57 km, one of longitude 111.32 km times the cosine of the latitude; 110 km leaves a
-- margin of 0.5 % or more.
CREATE OR REPLACE FUNCTION gridwatch_box(point geometry, radius_m double precision)
RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ST_Expand(point,
                     radius_m / (110000 * greatest(cos(radians(ST_Y(point))), 0.01)),
                     radius_m / 110000)
$$;
