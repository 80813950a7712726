-- include: gaps_base
-- Per-parent roll-up for dashboards: for each cell some levels below the root of the tree
-- (path position idx), how many of its leaf cells are in each state and the share patrolled.
SELECT a.code, a.name, a.level,
       count(*) AS leaf_cells,
       count(*) FILTER (WHERE NOT g.has_gap) AS without_gaps,
       count(*) FILTER (WHERE g.never_patrolled) AS never_patrolled,
       count(*) FILTER (WHERE g.unpatrolled) AS unpatrolled,
       count(*) FILTER (WHERE g.open_hotspot) AS open_hotspot,
       count(*) FILTER (WHERE g.overdue_hotspot) AS overdue_hotspot,
       count(*) FILTER (WHERE g.unstaffed) AS unstaffed,
       count(*) FILTER (WHERE g.uninspected_source) AS uninspected_source,
       count(*) FILTER (WHERE g.missed_problem) AS missed_problem,
       round(avg(CASE WHEN g.last_patrol_at > CAST(:t AS timestamptz) - g.span
                      THEN 1.0 ELSE 0.0 END), 4) AS patrolled_share
  FROM g
  JOIN cells a ON a.id = ltree2text(subpath(g.path, :idx, 1))::bigint
 WHERE nlevel(g.path) > :idx
 GROUP BY a.code, a.name, a.level
 ORDER BY a.code
