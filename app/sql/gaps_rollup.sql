-- include: gaps_base
-- Per-parent roll-up for dashboards: for each cell some levels below the root of the tree
-- (path position idx), how many of its leaf cells are in each state and the share patrolled.
SELECT a.code, a.name, a.level,
       count(*) AS leaf_cells,
       count(*) FILTER (WHERE cardinality(g.reasons) = 0) AS without_gaps,
       count(*) FILTER (WHERE 'never_patrolled' = ANY (g.reasons)) AS never_patrolled,
       count(*) FILTER (WHERE 'unpatrolled' = ANY (g.reasons)) AS unpatrolled,
       count(*) FILTER (WHERE 'open_hotspot' = ANY (g.reasons)) AS open_hotspot,
       count(*) FILTER (WHERE 'overdue_hotspot' = ANY (g.reasons)) AS overdue_hotspot,
       count(*) FILTER (WHERE 'unstaffed' = ANY (g.reasons)) AS unstaffed,
       count(*) FILTER (WHERE 'uninspected_source' = ANY (g.reasons)) AS uninspected_source,
       count(*) FILTER (WHERE 'missed_problem' = ANY (g.reasons)) AS missed_problem,
       round(avg(CASE WHEN g.last_patrol_at > CAST(:t AS timestamptz) - g.span
                      THEN 1.0 ELSE 0.0 END), 4) AS patrolled_share
  FROM g
  JOIN cells a ON a.id = ltree2text(subpath(g.path, :idx, 1))::bigint
 WHERE nlevel(g.path) > :idx
 GROUP BY a.code, a.name, a.level
 ORDER BY a.code
