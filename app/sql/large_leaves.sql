-- Leaf cells far larger than a unit cell: a district or street imported before its grid is
-- drawn becomes a leaf, is patrolled as one unit and shows as a blind spot (未划网格?).
-- A leaf is "large" when its area exceeds :max_m2, or :factor times the median area of the
-- leaves of the same subtree when there are at least :min_leaves of them. :within limits the
-- subtree (NULL = all), :codes the cells reported (NULL = every leaf). Only current cells.
WITH leaves AS (
    SELECT c.code, c.name, c.area_m2, c.geom
      FROM cells c
     WHERE c.is_leaf
       AND (c.valid_to IS NULL OR c.valid_to > gridwatch_now())
       AND (CAST(:within AS text) IS NULL
            OR c.path <@ (SELECT path FROM cells WHERE code = CAST(:within AS text)))
),
typical AS (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY area_m2) AS median_m2,
           count(*) AS n
      FROM leaves
)
SELECT l.code, l.name, l.area_m2, t.median_m2, t.n AS leaves,
       ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat, ST_AsGeoJSON(l.geom, 7) AS geometry
  FROM leaves l
 CROSS JOIN typical t
 CROSS JOIN LATERAL (SELECT ST_PointOnSurface(l.geom) AS geom) p
 WHERE (CAST(:codes AS text[]) IS NULL OR l.code = ANY(CAST(:codes AS text[])))
   AND (l.area_m2 > :max_m2
        OR (t.n >= :min_leaves AND l.area_m2 > :factor * t.median_m2))
 ORDER BY l.area_m2 DESC, l.code;
