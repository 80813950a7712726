-- The gap engine (SPEC §5): for an instant t and a set of leaf cells, every reason. The rule
-- values (status and duty sets, the source radius, the missed-problem window) are parameters
-- from app/rules.py:params(); the summaries were computed with the same values.
-- Current instants (current = true) read the maintained summaries only (cell_status, kept by
-- app/domain/status.py and the triggers in app/sql/trg_*.sql, and sources.inspected_at): one
-- row per leaf, no history. Past instants read the counted-patrol history by
-- (cell_id, observed_at), the duties, and the hotspot event log. This file is the shared CTE
-- chain `g`; gaps_cells.sql, gaps_rollup.sql and the tile queries add the final SELECT.
WITH leaves AS MATERIALIZED (
    SELECT c.id, c.code, c.name, c.path, c.patrol_interval_hours AS interval_hours,
           make_interval(hours => c.patrol_interval_hours) AS span
      FROM cells c
     WHERE c.is_leaf
       AND (CAST(:root_path AS ltree) IS NULL OR c.path <@ CAST(:root_path AS ltree))
       AND (CAST(:cell_ids AS bigint[]) IS NULL OR c.id = ANY (CAST(:cell_ids AS bigint[])))
       AND (CAST(:under AS ltree[]) IS NULL OR c.path <@ CAST(:under AS ltree[]))
       AND (CAST(:bbox AS text) IS NULL OR c.geom && ST_GeomFromEWKT(CAST(:bbox AS text)))
       AND (c.valid_from IS NULL OR c.valid_from <= :t)
       AND (c.valid_to IS NULL OR c.valid_to > :t)
),
patrol AS (
    -- The past: the summary holds the newest counted patrol; only when that lies after t is
    -- the history consulted (one index probe per such cell).
    SELECT l.id,
           CASE WHEN s.last_patrol_at IS NULL THEN NULL
                WHEN s.last_patrol_at <= :t THEN s.last_patrol_at
                ELSE (SELECT max(v.observed_at) FROM cell_visits v
                       WHERE v.cell_id = l.id AND v.observed_at <= :t)
           END AS last_patrol_at
      FROM leaves l
      LEFT JOIN cell_status s ON s.cell_id = l.id
     WHERE NOT CAST(:current AS boolean)
),
hot_then AS (
    -- Each hotspot's status and deadline as of t, from its event log.
    SELECT h.cell_id AS id,
           count(*) FILTER (WHERE e.to_status <> ALL (CAST(:finished_statuses AS text[])))
               AS open_hotspots,
           count(*) FILTER (WHERE e.to_status = ANY (CAST(:running_deadline_statuses AS text[]))
                              AND dl.deadline < :t) AS overdue_hotspots
      FROM hotspots h
      JOIN leaves l ON l.id = h.cell_id
     CROSS JOIN LATERAL (SELECT ev.to_status FROM hotspot_events ev
                          WHERE ev.hotspot_id = h.id AND ev.at <= :t
                          ORDER BY ev.at DESC, ev.id DESC LIMIT 1) e
      LEFT JOIN LATERAL (SELECT ev.deadline FROM hotspot_events ev
                          WHERE ev.hotspot_id = h.id AND ev.at <= :t
                            AND ev.deadline IS NOT NULL
                          ORDER BY ev.at DESC, ev.id DESC LIMIT 1) dl ON true
     WHERE NOT CAST(:current AS boolean) AND h.created_at <= :t
       -- finished and untouched since before t: finished at t too (no event log to read)
       AND NOT (h.status = ANY (CAST(:finished_statuses AS text[])) AND h.updated_at <= :t)
     GROUP BY h.cell_id
),
staff AS (
    SELECT d.cell_id AS id,
           bool_or(d.duty = ANY (CAST(:leader_duties AS text[]))) AS has_leader,
           bool_or(d.duty = ANY (CAST(:member_duties AS text[]))) AS has_member
      FROM duties d
      JOIN leaves l ON l.id = d.cell_id
     WHERE NOT CAST(:current AS boolean)
       AND (d.valid_from IS NULL OR d.valid_from <= :t)
       AND (d.valid_to IS NULL OR d.valid_to > :t)
     GROUP BY d.cell_id
),
src AS (
    -- Sources with no counted patrol within the source radius inside their inspection
    -- interval (SPEC §4; editing the ledger entry is not an inspection).
    SELECT s.cell_id AS id, count(*) AS uninspected_sources
      FROM sources s
      JOIN leaves l ON l.id = s.cell_id
     WHERE NOT CAST(:current AS boolean)
       AND s.created_at <= :t
       AND (s.retired_at IS NULL OR s.retired_at > :t)
       AND (-- the newest patrol near it ever is too old: no need to search the history
            s.inspected_at IS NULL
            OR s.inspected_at <= :t - make_interval(hours => s.inspection_interval_hours)
            -- its own cell first (the usual case), then the cells around it
            OR NOT (EXISTS (
                        SELECT 1
                          FROM cell_visits v
                         WHERE v.cell_id = s.cell_id
                           AND v.observed_at <= :t
                           AND v.observed_at
                               > :t - make_interval(hours => s.inspection_interval_hours)
                           AND v.geom && gridwatch_box(s.geom, :source_radius_m)
                           AND ST_DWithin(v.geom::geography, s.geom::geography,
                                          :source_radius_m))
                    OR EXISTS (
                        SELECT 1
                          FROM cells nc
                          JOIN cell_visits v ON v.cell_id = nc.id
                               AND v.observed_at <= :t
                               AND v.observed_at
                                   > :t - make_interval(hours => s.inspection_interval_hours)
                         WHERE nc.is_leaf
                           AND nc.id <> s.cell_id
                           AND nc.geom && gridwatch_box(s.geom, :source_radius_m)
                           AND v.geom && gridwatch_box(s.geom, :source_radius_m)
                           AND ST_DWithin(v.geom::geography, s.geom::geography,
                                          :source_radius_m))))
     GROUP BY s.cell_id
),
src_now AS (
    -- Now: sources whose newest patrol within the radius (sources.inspected_at) is too old.
    SELECT s.cell_id AS id, count(*) AS uninspected_sources
      FROM sources s
      JOIN leaves l ON l.id = s.cell_id
     WHERE CAST(:current AS boolean)
       AND s.created_at <= :t
       AND (s.retired_at IS NULL OR s.retired_at > :t)
       AND (s.inspected_at IS NULL
            OR s.inspected_at <= :t - make_interval(hours => s.inspection_interval_hours))
     GROUP BY s.cell_id
),
missed AS (
    SELECT h.cell_id AS id, count(*) AS missed_problems
      FROM hotspots h
      JOIN leaves l ON l.id = h.cell_id
     WHERE NOT CAST(:current AS boolean)
       AND h.missed_by_grid AND h.created_at <= :t
       AND h.found_at <= :t
       AND h.found_at > :t - make_interval(days => CAST(:missed_problem_days AS int))
       -- a complaint rejected as unfounded (不予立案) was nothing the grid missed
       AND NOT EXISTS (SELECT 1 FROM hotspot_events ev
                        WHERE ev.hotspot_id = h.id
                          AND ev.to_status = ANY (CAST(:unfounded_statuses AS text[]))
                          AND ev.at <= :t)
     GROUP BY h.cell_id
),
r AS (
    -- Now: one summary row per leaf (a patrol observed a few minutes ahead of the clock is
    -- looked up in the history).
    SELECT l.id, l.code, l.name, l.path, l.interval_hours, l.span,
           CASE WHEN s.last_patrol_at IS NULL OR s.last_patrol_at <= :t THEN s.last_patrol_at
                ELSE (SELECT max(v.observed_at) FROM cell_visits v
                       WHERE v.cell_id = l.id AND v.observed_at <= :t)
           END AS last_patrol_at,
           coalesce(s.open_hotspots, 0) AS open_hotspots,
           CASE WHEN s.next_deadline IS NULL OR s.next_deadline >= :t THEN 0
                ELSE (SELECT count(*) FROM unnest(s.running_deadlines) d WHERE d < :t)
           END AS overdue_hotspots,
           -- the staffing summary holds until its cell's next duty change
           CASE WHEN s.has_leader IS NOT NULL
                     AND (s.staff_until IS NULL OR s.staff_until > :t)
                THEN s.has_leader AND s.has_member
                ELSE (SELECT coalesce(bool_or(d.duty = ANY (CAST(:leader_duties AS text[]))),
                                      false)
                             AND coalesce(bool_or(d.duty = ANY (CAST(:member_duties AS text[]))),
                                          false)
                        FROM duties d
                       WHERE d.cell_id = l.id
                         AND (d.valid_from IS NULL OR d.valid_from <= :t)
                         AND (d.valid_to IS NULL OR d.valid_to > :t))
           END AS staffed,
           coalesce(sn.uninspected_sources, 0) AS uninspected_sources,
           CASE WHEN cardinality(s.missed_until) > 0
                THEN (SELECT count(*) FROM unnest(s.missed_until) m WHERE m > :t)
                ELSE 0 END AS missed_problems
      FROM leaves l
      LEFT JOIN cell_status s ON s.cell_id = l.id
      LEFT JOIN src_now sn ON sn.id = l.id
     WHERE CAST(:current AS boolean)
    UNION ALL
    SELECT l.id, l.code, l.name, l.path, l.interval_hours, l.span, p.last_patrol_at,
           coalesce(ht.open_hotspots, 0), coalesce(ht.overdue_hotspots, 0),
           coalesce(st.has_leader AND st.has_member, false),
           coalesce(sr.uninspected_sources, 0), coalesce(m.missed_problems, 0)
      FROM leaves l
      JOIN patrol p ON p.id = l.id
      LEFT JOIN hot_then ht ON ht.id = l.id
      LEFT JOIN staff st ON st.id = l.id
      LEFT JOIN src sr ON sr.id = l.id
      LEFT JOIN missed m ON m.id = l.id
     WHERE NOT CAST(:current AS boolean)
),
flags AS (
    SELECT r.*,
           last_patrol_at IS NULL AS never_patrolled,
           coalesce(last_patrol_at <= CAST(:t AS timestamptz) - span, false) AS unpatrolled,
           open_hotspots > 0 AS open_hotspot,
           overdue_hotspots > 0 AS overdue_hotspot,
           NOT staffed AS unstaffed,
           uninspected_sources > 0 AS uninspected_source,
           missed_problems > 0 AS missed_problem
      FROM r
),
g AS MATERIALIZED (
    SELECT f.*,
           (never_patrolled OR unpatrolled OR open_hotspot OR overdue_hotspot OR unstaffed
            OR uninspected_source OR missed_problem) AS has_gap,
           array_remove(ARRAY[
               CASE WHEN never_patrolled THEN 'never_patrolled' END,
               CASE WHEN unpatrolled THEN 'unpatrolled' END,
               CASE WHEN open_hotspot THEN 'open_hotspot' END,
               CASE WHEN overdue_hotspot THEN 'overdue_hotspot' END,
               CASE WHEN unstaffed THEN 'unstaffed' END,
               CASE WHEN uninspected_source THEN 'uninspected_source' END,
               CASE WHEN missed_problem THEN 'missed_problem' END
           ], NULL) AS reasons
      FROM flags f
)
