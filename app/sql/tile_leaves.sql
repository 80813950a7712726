-- include: gaps_base
-- A vector tile (z, x, y) of unit cells coloured by their most severe gap reason.
, shaped AS (
    SELECT g.code, g.name, array_to_string(g.reasons, ',') AS reasons,
           CASE WHEN 'overdue_hotspot' = ANY (g.reasons) THEN 'overdue_hotspot'
                WHEN 'never_patrolled' = ANY (g.reasons) THEN 'never_patrolled'
                WHEN 'unpatrolled' = ANY (g.reasons) THEN 'unpatrolled'
                WHEN 'open_hotspot' = ANY (g.reasons) THEN 'open_hotspot'
                WHEN 'unstaffed' = ANY (g.reasons) THEN 'unstaffed'
                WHEN 'missed_problem' = ANY (g.reasons) THEN 'missed_problem'
                WHEN 'uninspected_source' = ANY (g.reasons) THEN 'uninspected_source'
                ELSE 'ok' END AS status,
           ST_AsMVTGeom(ST_Transform(c.geom, 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true)
               AS geom
      FROM g
      JOIN cells c ON c.id = g.id
)
SELECT ST_AsMVT(shaped, 'cells', 4096, 'geom') FROM shaped WHERE geom IS NOT NULL
