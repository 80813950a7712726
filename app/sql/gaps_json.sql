-- include: gaps_summary
-- The whole /api/v1/gaps answer as one JSON document built in the database, so that a
-- province's gap cells never become Python objects: the cells with at least one reason (by
-- code) and the summary over all leaves. Same shape as app/api/gaps.py builds otherwise.
SELECT json_build_object(
           'as_of', CAST(:as_of AS text),
           'cells', coalesce((
               SELECT json_agg(x ORDER BY x.code)
                 FROM (SELECT g.code, g.name, g.reasons,
                              -- as Python's isoformat writes it (the other answers' format)
                              to_char(g.last_patrol_at AT TIME ZONE 'UTC',
                                      CASE WHEN extract(microseconds FROM g.last_patrol_at)::bigint
                                                % 1000000 = 0
                                           THEN 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'
                                           ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"' END)
                                  AS last_patrol_at,
                              g.interval_hours AS patrol_interval_hours, g.open_hotspots,
                              g.overdue_hotspots, g.uninspected_sources, g.missed_problems
                         FROM g
                        WHERE g.has_gap
                          AND (CAST(:reason AS text) IS NULL
                               OR CAST(:reason AS text) = ANY (g.reasons))) x
           ), '[]'::json),
           'summary', s.summary)::text
  FROM summary s
