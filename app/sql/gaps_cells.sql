-- include: gaps_summary
-- Every leaf cell with at least one reason, and (on every row) the summary over all leaves.
-- The LEFT JOIN keeps one row holding the summary when no cell has a gap.
SELECT s.summary, g.id, g.code, g.name, g.reasons, g.last_patrol_at, g.interval_hours,
       g.open_hotspots, g.overdue_hotspots, g.uninspected_sources, g.missed_problems
  FROM summary s
  LEFT JOIN g ON g.has_gap
             AND (CAST(:reason AS text) IS NULL OR CAST(:reason AS text) = ANY (g.reasons))
 ORDER BY g.code
