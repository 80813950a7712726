-- include: gaps_base
-- A vector tile of parent cells at a low zoom: each parent with how many of its unit cells
-- have a gap. The leaves of every parent touching the tile are counted whole, so a parent
-- shows the same numbers in every tile it spans. A leaf shallower than that depth stands for
-- itself.
, parents AS (
    SELECT ltree2text(subpath(g.path, least(:idx, nlevel(g.path) - 1), 1))::bigint AS id,
           count(*) AS leaf_cells,
           count(*) FILTER (WHERE g.has_gap) AS with_gaps,
           count(*) FILTER (WHERE g.overdue_hotspot) AS overdue,
           count(*) FILTER (WHERE g.never_patrolled) AS never_patrolled
      FROM g
     GROUP BY 1
),
shaped AS (
    SELECT c.code, c.name, p.leaf_cells, p.with_gaps, p.overdue, p.never_patrolled,
           round(p.with_gaps::numeric / p.leaf_cells, 3)::float8 AS gap_share,
           ST_AsMVTGeom(ST_Transform(c.geom, 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true)
               AS geom
      FROM parents p
      JOIN cells c ON c.id = p.id
)
SELECT ST_AsMVT(shaped, 'parents', 4096, 'geom') FROM shaped WHERE geom IS NOT NULL
