-- include: gaps_base
-- Every leaf cell with at least one reason, and (on every row) the summary over all leaves.
-- The LEFT JOIN keeps one row holding the summary when no cell has a gap.
, summary AS (
    SELECT jsonb_build_object(
               'leaf_cells', count(*),
               'cells_with_gaps', count(*) FILTER (WHERE cardinality(reasons) > 0),
               'never_patrolled', count(*) FILTER (WHERE 'never_patrolled' = ANY (reasons)),
               'unpatrolled', count(*) FILTER (WHERE 'unpatrolled' = ANY (reasons)),
               'open_hotspot', count(*) FILTER (WHERE 'open_hotspot' = ANY (reasons)),
               'overdue_hotspot', count(*) FILTER (WHERE 'overdue_hotspot' = ANY (reasons)),
               'unstaffed', count(*) FILTER (WHERE 'unstaffed' = ANY (reasons)),
               'uninspected_source', count(*) FILTER (WHERE 'uninspected_source' = ANY (reasons)),
               'missed_problem', count(*) FILTER (WHERE 'missed_problem' = ANY (reasons)),
               'patrolled_share', round(coalesce(
                   avg(CASE WHEN last_patrol_at > CAST(:t AS timestamptz) - span
                            THEN 1.0 ELSE 0.0 END), 0), 4)
           ) AS summary
      FROM g
)
SELECT s.summary, g.id, g.code, g.name, g.reasons, g.last_patrol_at, g.interval_hours,
       g.open_hotspots, g.overdue_hotspots, g.uninspected_sources, g.missed_problems
  FROM summary s
  LEFT JOIN g ON cardinality(g.reasons) > 0
             AND (CAST(:reason AS text) IS NULL OR CAST(:reason AS text) = ANY (g.reasons))
 ORDER BY g.code
