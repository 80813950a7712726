-- Partition defects (SPEC §2) under every non-leaf cell of a subtree (within NULL = all):
--   gap      parent area covered by no child (a blind spot in the grid itself)
--   overlap  area claimed by two sibling children (crossed responsibility)
--   outside  child area lying outside its parent
-- Pieces smaller than min_area_m2 are floating-point noise and left out. Overlays run on a
-- 1e-9 degree (~0.1 mm) grid: GEOS's floating overlay can drop or invent slivers of tens of
-- m² when unioning hundreds of cells that share edges.
WITH parents AS (
    SELECT p.id, p.code, p.geom
      FROM cells p
     WHERE NOT p.is_leaf
       AND (CAST(:within AS text) IS NULL
            OR p.path <@ (SELECT path FROM cells WHERE code = CAST(:within AS text)))
),
pieces AS (
    SELECT 'gap' AS kind, p.code AS parent_code, NULL::text AS cell_a, NULL::text AS cell_b,
           (ST_Dump(ST_Difference(p.geom, u.geom, 1e-9))).geom AS geom
      FROM parents p
     CROSS JOIN LATERAL (SELECT ST_Union(k.geom, 1e-9) AS geom FROM cells k WHERE k.parent_id = p.id) u
    UNION ALL
    SELECT 'overlap', p.code, a.code, b.code, (ST_Dump(ST_Intersection(a.geom, b.geom, 1e-9))).geom
      FROM parents p
      JOIN cells a ON a.parent_id = p.id
      JOIN cells b ON b.parent_id = p.id AND a.code < b.code
                  AND a.geom && b.geom AND ST_Intersects(a.geom, b.geom)
                  AND NOT ST_Touches(a.geom, b.geom)
    UNION ALL
    SELECT 'outside', p.code, k.code, NULL, (ST_Dump(ST_Difference(k.geom, p.geom, 1e-9))).geom
      FROM parents p
      JOIN cells k ON k.parent_id = p.id
     WHERE NOT ST_CoveredBy(k.geom, p.geom)
)
SELECT kind, parent_code, cell_a, cell_b, area_m2, ST_AsGeoJSON(geom, 7) AS geometry
  FROM (SELECT *, ST_Area(geom::geography) AS area_m2 FROM pieces
         WHERE ST_Dimension(geom) = 2) measured
 WHERE area_m2 >= :min_area_m2
 ORDER BY parent_code, kind, area_m2 DESC;
