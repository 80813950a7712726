-- Unpatrolled lapses (SPEC §5) over [from, to) for a set of leaf cells: maximal intervals
-- with no counted patrol in (t - interval, t], clipped to the window and the cell's validity.
-- A lapse starts `interval` after a counted patrol (or at the window start when none came
-- before) and ends at the next counted patrol. Reads the history by (cell_id, observed_at).
WITH leaves AS MATERIALIZED (
    SELECT c.id, c.code, c.name, make_interval(hours => c.patrol_interval_hours) AS span,
           greatest(CAST(:start AS timestamptz), coalesce(c.valid_from, '-infinity')) AS lo,
           least(CAST(:end AS timestamptz), coalesce(c.valid_to, 'infinity')) AS hi
      FROM cells c
     WHERE c.is_leaf
       AND (CAST(:root_path AS ltree) IS NULL OR c.path <@ CAST(:root_path AS ltree))
       AND (CAST(:cell_ids AS bigint[]) IS NULL OR c.id = ANY (CAST(:cell_ids AS bigint[])))
       AND (c.valid_from IS NULL OR c.valid_from < :end)
       AND (c.valid_to IS NULL OR c.valid_to > :start)
),
before AS (
    SELECT l.id, p.observed_at
      FROM leaves l
     CROSS JOIN LATERAL (SELECT v.observed_at FROM cell_visits v
                          WHERE v.cell_id = l.id AND v.observed_at < l.lo
                          ORDER BY v.observed_at DESC LIMIT 1) p
),
pts AS (
    SELECT id, observed_at FROM before
    UNION ALL
    -- one index range scan per cell: a chunk of cells never scans the whole history
    SELECT l.id, v.observed_at
      FROM leaves l
     CROSS JOIN LATERAL (SELECT v.observed_at FROM cell_visits v
                          WHERE v.cell_id = l.id AND v.observed_at >= l.lo
                            AND v.observed_at < l.hi) v
),
seq AS (
    SELECT id, observed_at, lead(observed_at) OVER (PARTITION BY id ORDER BY observed_at) AS next_at
      FROM pts
),
raw AS (
    SELECT s.id, s.observed_at + l.span AS lapse_start, coalesce(s.next_at, l.hi) AS lapse_end,
           s.observed_at AS last_patrol_at
      FROM seq s
      JOIN leaves l ON l.id = s.id
    UNION ALL
    SELECT l.id, l.lo,
           coalesce((SELECT min(v.observed_at) FROM cell_visits v
                      WHERE v.cell_id = l.id AND v.observed_at >= l.lo
                        AND v.observed_at < l.hi), l.hi), NULL
      FROM leaves l
     WHERE NOT EXISTS (SELECT 1 FROM before b WHERE b.id = l.id)
)
SELECT l.id AS cell_id, greatest(r.lapse_start, l.lo) AS lapse_start,
       least(r.lapse_end, l.hi) AS lapse_end, r.last_patrol_at
  FROM raw r
  JOIN leaves l ON l.id = r.id
 WHERE greatest(r.lapse_start, l.lo) < least(r.lapse_end, l.hi)
 ORDER BY l.id, lapse_start
