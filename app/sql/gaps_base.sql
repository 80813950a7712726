-- The gap engine (SPEC §5): for an instant t and a set of leaf cells, every reason.
-- Current instants (current = true) read the maintained summaries (cell_status); past instants read
-- the counted-patrol history by (cell_id, observed_at) and the hotspot event log. This file is
-- the shared CTE chain `g`; gaps_cells.sql and gaps_rollup.sql add the final SELECT.
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
    -- The summary holds the newest counted patrol; only when that lies after t is the
    -- history consulted (one index probe per such cell).
    SELECT l.id,
           CASE WHEN s.last_patrol_at IS NULL THEN NULL
                WHEN s.last_patrol_at <= :t THEN s.last_patrol_at
                ELSE (SELECT max(v.observed_at) FROM cell_visits v
                       WHERE v.cell_id = l.id AND v.observed_at <= :t)
           END AS last_patrol_at
      FROM leaves l
      LEFT JOIN cell_status s ON s.cell_id = l.id
),
hot_now AS (
    SELECT l.id, s.open_hotspots,
           (SELECT count(*) FROM unnest(s.running_deadlines) d WHERE d < :t) AS overdue_hotspots
      FROM leaves l
      JOIN cell_status s ON s.cell_id = l.id
     WHERE CAST(:current AS boolean)
),
hot_then AS (
    -- Each hotspot's status and deadline as of t, from its event log.
    SELECT h.cell_id AS id,
           count(*) FILTER (WHERE e.to_status NOT IN ('closed', 'rejected')) AS open_hotspots,
           count(*) FILTER (WHERE e.to_status IN ('dispatched', 'rectifying')
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
     GROUP BY h.cell_id
),
staff AS (
    SELECT d.cell_id AS id,
           bool_or(d.duty = 'leader') AS has_leader,
           bool_or(d.duty IN ('member', 'patroller')) AS has_member
      FROM duties d
      JOIN leaves l ON l.id = d.cell_id
     WHERE (d.valid_from IS NULL OR d.valid_from <= :t)
       AND (d.valid_to IS NULL OR d.valid_to > :t)
     GROUP BY d.cell_id
),
src AS (
    -- Sources with no counted patrol within 50 m inside their inspection interval (SPEC §4;
    -- editing the ledger entry is not an inspection).
    SELECT s.cell_id AS id, count(*) AS uninspected_sources
      FROM sources s
      JOIN leaves l ON l.id = s.cell_id
     WHERE s.created_at <= :t
       AND (s.retired_at IS NULL OR s.retired_at > :t)
       AND NOT EXISTS (
           SELECT 1
             FROM cells nc
             JOIN cell_visits v ON v.cell_id = nc.id
                  AND v.observed_at <= :t
                  AND v.observed_at > :t - make_interval(hours => s.inspection_interval_hours)
            WHERE nc.is_leaf
              AND nc.geom && ST_Expand(s.geom, 0.002)
              AND ST_DWithin(v.geom::geography, s.geom::geography, 50))
     GROUP BY s.cell_id
),
missed AS (
    SELECT h.cell_id AS id, count(*) AS missed_problems
      FROM hotspots h
      JOIN leaves l ON l.id = h.cell_id
     WHERE h.missed_by_grid AND h.created_at <= :t
       AND h.found_at <= :t AND h.found_at > :t - interval '30 days'
       -- a complaint rejected as unfounded (不予立案) was nothing the grid missed
       AND NOT EXISTS (SELECT 1 FROM hotspot_events ev
                        WHERE ev.hotspot_id = h.id AND ev.to_status = 'rejected'
                          AND ev.at <= :t)
     GROUP BY h.cell_id
),
r AS (
    SELECT l.id, l.code, l.name, l.path, l.interval_hours, l.span, p.last_patrol_at,
           coalesce(hn.open_hotspots, ht.open_hotspots, 0) AS open_hotspots,
           coalesce(hn.overdue_hotspots, ht.overdue_hotspots, 0) AS overdue_hotspots,
           coalesce(st.has_leader, false) AS has_leader,
           coalesce(st.has_member, false) AS has_member,
           coalesce(sr.uninspected_sources, 0) AS uninspected_sources,
           coalesce(m.missed_problems, 0) AS missed_problems
      FROM leaves l
      JOIN patrol p ON p.id = l.id
      LEFT JOIN hot_now hn ON hn.id = l.id
      LEFT JOIN hot_then ht ON ht.id = l.id
      LEFT JOIN staff st ON st.id = l.id
      LEFT JOIN src sr ON sr.id = l.id
      LEFT JOIN missed m ON m.id = l.id
),
g AS MATERIALIZED (
    SELECT r.*,
           array_remove(ARRAY[
               CASE WHEN last_patrol_at IS NULL THEN 'never_patrolled' END,
               CASE WHEN last_patrol_at <= CAST(:t AS timestamptz) - span THEN 'unpatrolled' END,
               CASE WHEN open_hotspots > 0 THEN 'open_hotspot' END,
               CASE WHEN overdue_hotspots > 0 THEN 'overdue_hotspot' END,
               CASE WHEN NOT (has_leader AND has_member) THEN 'unstaffed' END,
               CASE WHEN uninspected_sources > 0 THEN 'uninspected_source' END,
               CASE WHEN missed_problems > 0 THEN 'missed_problem' END
           ], NULL) AS reasons
      FROM r
)
