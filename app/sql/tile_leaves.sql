-- include: gaps_base
-- A vector tile (z, x, y) of unit cells coloured by their most severe gap reason.
, shaped AS (
    SELECT g.code, g.name, array_to_string(g.reasons, ',') AS reasons,
           CASE WHEN g.overdue_hotspot THEN 'overdue_hotspot'
                WHEN g.never_patrolled THEN 'never_patrolled'
                WHEN g.unpatrolled THEN 'unpatrolled'
                WHEN g.open_hotspot THEN 'open_hotspot'
                WHEN g.unstaffed THEN 'unstaffed'
                WHEN g.missed_problem THEN 'missed_problem'
                WHEN g.uninspected_source THEN 'uninspected_source'
                ELSE 'ok' END AS status,
           ST_AsMVTGeom(ST_Transform(c.geom, 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true)
               AS geom
      FROM g
      JOIN cells c ON c.id = g.id
)
SELECT ST_AsMVT(shaped, 'cells', 4096, 'geom') FROM shaped WHERE geom IS NOT NULL
