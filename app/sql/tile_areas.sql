-- A vector tile (z, x, y) of areas at a low zoom (layer `parents`), from their gap counts
-- (`areas`, JSON: id, leaf_cells, with_gaps, overdue, never_patrolled): every area's leaves
-- counted whole, so an area shows the same numbers in every tile it spans.
WITH a AS (
    SELECT * FROM json_to_recordset(CAST(:areas AS json))
             AS a(id bigint, leaf_cells int, with_gaps int, overdue int, never_patrolled int)
),
shaped AS (
    SELECT c.code, c.name, a.leaf_cells::bigint AS leaf_cells, a.with_gaps::bigint AS with_gaps,
           a.overdue::bigint AS overdue, a.never_patrolled::bigint AS never_patrolled,
           round(a.with_gaps::numeric / a.leaf_cells, 3)::float8 AS gap_share,
           -- the outline stored for this zoom band (a leaf standing for itself has none)
           ST_AsMVTGeom(coalesce(o.geom, ST_Transform(c.geom, 3857)),
                        ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom
      FROM a
      JOIN cells c ON c.id = a.id
      LEFT JOIN cell_outlines o ON o.cell_id = c.id AND o.band = :band
)
SELECT ST_AsMVT(shaped, 'parents', 4096, 'geom') FROM shaped WHERE geom IS NOT NULL
