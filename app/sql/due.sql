-- Due times (SPEC §5, §6 /due): when each unit cell's patrol requirement and each ledger
-- source's inspection next runs out, from the maintained summaries only — the cell's last
-- counted patrol (cell_status) plus its patrol interval, the source's newest counted patrol
-- within the source radius (sources.inspected_at) plus its inspection interval. Never
-- patrolled (never inspected) is due already: due_at is NULL and sorts first. The same
-- instants as the gap engine (gaps_base.sql): a cell is `unpatrolled` from its due_at on.
-- Rows due at or before :until, soonest first, with who is on duty at :t.
WITH leaves AS MATERIALIZED (
    SELECT c.id, c.code, c.name, c.path, c.risk, c.patrol_interval_hours
      FROM cells c
     WHERE c.is_leaf
       AND (CAST(:root_path AS ltree) IS NULL OR c.path <@ CAST(:root_path AS ltree))
       AND (CAST(:cell_ids AS bigint[]) IS NULL OR c.id = ANY (CAST(:cell_ids AS bigint[])))
       AND (c.valid_from IS NULL OR c.valid_from <= :t)
       AND (c.valid_to IS NULL OR c.valid_to > :t)
),
due AS (
    SELECT 'cell' AS kind, l.code AS ref, l.name, l.id AS cell_id, l.risk AS type,
           l.patrol_interval_hours AS interval_hours, s.last_patrol_at AS last_at,
           s.last_patrol_at + make_interval(hours => l.patrol_interval_hours) AS due_at
      FROM leaves l
      LEFT JOIN cell_status s ON s.cell_id = l.id
    UNION ALL
    SELECT 'source', src.id::text, src.name, src.cell_id, src.type,
           src.inspection_interval_hours, src.inspected_at,
           src.inspected_at + make_interval(hours => src.inspection_interval_hours)
      FROM sources src
      JOIN leaves l ON l.id = src.cell_id
     WHERE src.created_at <= :t
       AND (src.retired_at IS NULL OR src.retired_at > :t)
),
soon AS (
    SELECT * FROM due
     WHERE (due_at IS NULL OR due_at <= :until)
       AND (CAST(:after AS timestamptz) IS NULL OR due_at > CAST(:after AS timestamptz))
       AND kind = ANY (CAST(:kinds AS text[]))
     ORDER BY due_at ASC NULLS FIRST, kind, ref
     LIMIT :limit
)
SELECT d.kind, d.ref, d.name, d.type, d.interval_hours, d.last_at, d.due_at,
       l.code AS cell_code, l.name AS cell_name,
       coalesce(src.lon, ST_X(spot.geom)) AS lon, coalesce(src.lat, ST_Y(spot.geom)) AS lat,
       district.code AS district_code, district.name AS district_name,
       coalesce(duty.on_duty, '[]') AS on_duty
  FROM soon d
  JOIN leaves l ON l.id = d.cell_id
  LEFT JOIN sources src ON d.kind = 'source' AND src.id = CAST(d.ref AS bigint)
  LEFT JOIN LATERAL (SELECT ST_PointOnSurface(c.geom) AS geom FROM cells c
                      WHERE d.kind = 'cell' AND c.id = l.id) spot ON true
  -- The district (level 2 of SPEC §2's tree), or the highest cell above when there is none:
  -- the version valid at :t (a redrawn district keeps its path, not its name).
  LEFT JOIN LATERAL (SELECT a.code, a.name FROM cells a
                      WHERE a.path @> l.path
                        AND (a.valid_from IS NULL OR a.valid_from <= :t)
                        AND (a.valid_to IS NULL OR a.valid_to > :t)
                      ORDER BY a.level > 2, CASE WHEN a.level <= 2 THEN -a.level
                                                 ELSE a.level END
                      LIMIT 1) district ON true
  LEFT JOIN LATERAL (
      SELECT json_agg(json_build_object('duty', du.duty, 'username', p.username,
                                        'name', p.name, 'phone', p.phone)
                      ORDER BY du.duty, p.username) AS on_duty
        FROM duties du
        JOIN persons p ON p.id = du.person_id
       WHERE du.cell_id = l.id
         AND (du.valid_from IS NULL OR du.valid_from <= :t)
         AND (du.valid_to IS NULL OR du.valid_to > :t)) duty ON true
 ORDER BY d.due_at ASC NULLS FIRST, d.kind, d.ref
