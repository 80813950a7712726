-- include: gaps_base
-- The counts of each reason over all the selected leaves (the gap answers' `summary`).
, summary AS (
    SELECT jsonb_build_object(
               'leaf_cells', count(*),
               'cells_with_gaps', count(*) FILTER (WHERE has_gap),
               'never_patrolled', count(*) FILTER (WHERE never_patrolled),
               'unpatrolled', count(*) FILTER (WHERE unpatrolled),
               'open_hotspot', count(*) FILTER (WHERE open_hotspot),
               'overdue_hotspot', count(*) FILTER (WHERE overdue_hotspot),
               'unstaffed', count(*) FILTER (WHERE unstaffed),
               'uninspected_source', count(*) FILTER (WHERE uninspected_source),
               'missed_problem', count(*) FILTER (WHERE missed_problem),
               'patrolled_share', round(coalesce(
                   avg(CASE WHEN last_patrol_at > CAST(:t AS timestamptz) - span
                            THEN 1.0 ELSE 0.0 END), 0), 4)::float8
           ) AS summary
      FROM g
)
