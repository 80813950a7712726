-- Missed problems of `cells`: when each stops counting (SPEC §5: found within the last
-- missed_problem_days; a hotspot ever rejected as unfounded was nothing the grid missed).
-- Kept in cell_status.missed_until by the hotspot triggers (trg_hotspots.sql).
CREATE OR REPLACE FUNCTION gridwatch_refresh_missed(cells bigint[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO cell_status AS s (cell_id, missed_until, updated_at)
    SELECT c.id,
           coalesce(array_agg(h.found_at + make_interval(days => r.missed_problem_days)
                              ORDER BY h.found_at)
                    FILTER (WHERE h.id IS NOT NULL), '{}'),
           now()
      FROM (SELECT DISTINCT x AS id FROM unnest(cells) x WHERE x IS NOT NULL) c
     CROSS JOIN gridwatch_rule_values() r
      LEFT JOIN hotspots h
             ON h.cell_id = c.id AND h.missed_by_grid
            AND NOT EXISTS (SELECT 1 FROM hotspot_events ev
                             WHERE ev.hotspot_id = h.id
                               AND ev.to_status = ANY (r.unfounded_statuses))
     GROUP BY c.id
    ON CONFLICT (cell_id) DO UPDATE
       SET missed_until = excluded.missed_until, updated_at = now()
$$;
