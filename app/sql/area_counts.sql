-- include: gaps_base
-- Gap counts per area: the ancestor at path position idx of each selected leaf. With
-- `shallow`, a leaf shallower than that stands for itself (the map's parents layer);
-- without, it is left out (the dashboards' roll-up). The same counts rollup_now.sql reads
-- from the per-parent roll-up; app/domain/supervision/gaps.py:area_counts adds both up.
SELECT ltree2text(subpath(g.path, CASE WHEN CAST(:shallow AS boolean)
                                       THEN least(:idx, nlevel(g.path) - 1)
                                       ELSE :idx END, 1))::bigint AS id,
       count(*)::int AS leaf_cells,
       count(*) FILTER (WHERE NOT g.has_gap)::int AS without_gaps,
       count(*) FILTER (WHERE g.never_patrolled)::int AS never_patrolled,
       count(*) FILTER (WHERE g.unpatrolled)::int AS unpatrolled,
       count(*) FILTER (WHERE g.open_hotspot)::int AS open_hotspot,
       count(*) FILTER (WHERE g.overdue_hotspot)::int AS overdue_hotspot,
       count(*) FILTER (WHERE g.unstaffed)::int AS unstaffed,
       count(*) FILTER (WHERE g.uninspected_source)::int AS uninspected_source,
       count(*) FILTER (WHERE g.missed_problem)::int AS missed_problem,
       count(*) FILTER (WHERE g.last_patrol_at > CAST(:t AS timestamptz) - g.span)::int
           AS patrolled
  FROM g
 WHERE CAST(:shallow AS boolean) OR nlevel(g.path) > :idx
 GROUP BY 1
