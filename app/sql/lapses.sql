-- Unpatrolled and unstaffed lapses (SPEC §5) over [from, to) for a set of leaf cells, each
-- with the people whose duty on the cell overlapped it, as the JSON list the lapse API writes
-- (app/domain/supervision/lapses.py; overdue lapses are computed there).
--
-- Unpatrolled: maximal intervals with no counted patrol in (t - interval, t], clipped to the
-- window and the cell's validity. A lapse starts `interval` after a counted patrol (or at the
-- window start when none came before) and ends at the next counted patrol. Reads the history
-- by (cell_id, observed_at). Each read of it also carries the bounds of the whole query
-- (:start, :end), which every cell's window lies in: constants to the planner, so it reads
-- only the monthly partitions of cell_visits they cover (the look-back for the previous
-- patrol: those up to :end, newest first), not every month (docs/scale.md).
-- Unstaffed: the cell's window cut at every start and end of a duty on it; a piece is
-- unstaffed when, at its start, nobody held one of :leader_duties or nobody one of
-- :member_duties (app/rules.py:is_staffed); touching pieces join; `vacant` lists the
-- :all_duties (in that order) nobody held at the start of some piece of the lapse.
-- Only lapses lasting at least :shortest (the tolerance, min_hours).
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
                            AND v.observed_at < :end
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
                            AND v.observed_at < l.hi
                            AND v.observed_at >= :start AND v.observed_at < :end) v
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
                        AND v.observed_at < l.hi
                        AND v.observed_at >= :start AND v.observed_at < :end), l.hi), NULL
      FROM leaves l
     WHERE NOT EXISTS (SELECT 1 FROM before b WHERE b.id = l.id)
),
unpatrolled AS (
    SELECT l.id, greatest(r.lapse_start, l.lo) AS lapse_start,
           least(r.lapse_end, l.hi) AS lapse_end, r.last_patrol_at
      FROM raw r
      JOIN leaves l ON l.id = r.id
     WHERE greatest(r.lapse_start, l.lo) < least(r.lapse_end, l.hi)
),
duty AS MATERIALIZED (
    SELECT d.cell_id, d.duty, d.valid_from, d.valid_to, p.username,
           -- the person's part of a `responsible` entry, written once per duty
           '{"duty":' || to_json(d.duty) || ',"username":' || to_json(p.username)
           || ',"name":' || to_json(p.name)
           || ',"phone":' || coalesce(to_json(p.phone)::text, 'null') AS head
      FROM leaves l
      JOIN duties d ON d.cell_id = l.id
      JOIN persons p ON p.id = d.person_id
     WHERE (d.valid_from IS NULL OR d.valid_from < :end)
       AND (d.valid_to IS NULL OR d.valid_to > :start)
),
cuts AS (
    SELECT id, lo AS t FROM leaves
    UNION
    SELECT id, hi FROM leaves
    UNION
    SELECT d.cell_id, x.t
      FROM duty d
      JOIN leaves l ON l.id = d.cell_id
     CROSS JOIN LATERAL (VALUES (d.valid_from), (d.valid_to)) x (t)
     WHERE x.t > l.lo AND x.t < l.hi
),
pieces AS (
    SELECT id, t AS a, lead(t) OVER (PARTITION BY id ORDER BY t) AS b FROM cuts
),
held AS (
    SELECT s.id, s.a, s.b,
           coalesce(array_agg(d.duty) FILTER (WHERE d.duty IS NOT NULL), '{}') AS duties
      FROM pieces s
      LEFT JOIN duty d
        ON d.cell_id = s.id
       AND (d.valid_from IS NULL OR d.valid_from <= s.a)
       AND (d.valid_to IS NULL OR d.valid_to > s.a)
     WHERE s.b IS NOT NULL
     GROUP BY s.id, s.a, s.b
),
staffing AS (
    SELECT h.*,
           NOT (h.duties && CAST(:leader_duties AS text[])
                AND h.duties && CAST(:member_duties AS text[])) AS vacant,
           -- numbers the unstaffed runs: a staffed piece ends one
           count(*) FILTER (WHERE h.duties && CAST(:leader_duties AS text[])
                              AND h.duties && CAST(:member_duties AS text[]))
               OVER (PARTITION BY h.id ORDER BY h.a) AS run
      FROM held h
),
vacancy AS (
    SELECT s.id, s.run, u.duty, u.n
      FROM staffing s
     CROSS JOIN unnest(CAST(:all_duties AS text[])) WITH ORDINALITY u (duty, n)
     WHERE s.vacant AND NOT u.duty = ANY (s.duties)
     GROUP BY s.id, s.run, u.duty, u.n
),
unstaffed AS (
    SELECT s.id, min(s.a) AS lapse_start, max(s.b) AS lapse_end,
           coalesce((SELECT array_agg(v.duty ORDER BY v.n) FROM vacancy v
                      WHERE v.id = s.id AND v.run = s.run), '{}') AS vacant
      FROM staffing s
     WHERE s.vacant
     GROUP BY s.id, s.run
),
lapses AS (
    SELECT id, 'unpatrolled' AS lapse, lapse_start, lapse_end, last_patrol_at,
           NULL::text[] AS vacant
      FROM unpatrolled
    UNION ALL
    SELECT id, 'unstaffed', lapse_start, lapse_end, NULL, vacant
      FROM unstaffed
),
-- `responsible` as orjson writes a list of Responsible (app/domain/supervision/lapses.py):
-- compact, instants in UTC as isoformat gives them (microseconds only when not zero). Most
-- duties span the whole lapse: its ends are written once. Each lapse is numbered (`n`) and its
-- people aggregated by that number alone: a hash, not a sort of every column. Unordered: the
-- caller sorts a chunk's lapses with the overdue ones.
texts AS (
    SELECT x.*, row_number() OVER () AS n,
           replace(to_char(x.lapse_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                   '.000000', '') || '+00:00"' AS start_text,
           replace(to_char(x.lapse_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                   '.000000', '') || '+00:00"' AS end_text
      FROM lapses x
     WHERE x.lapse_end - x.lapse_start >= CAST(:shortest AS interval)
),
people AS (
    SELECT x.n,
           '[' || string_agg(
                   d.head || ',"start":"'
                   || CASE WHEN d.valid_from IS NULL OR d.valid_from <= x.lapse_start
                           THEN x.start_text
                           ELSE replace(to_char(d.valid_from AT TIME ZONE 'UTC',
                                                'YYYY-MM-DD"T"HH24:MI:SS.US'),
                                        '.000000', '') || '+00:00"' END
                   || ',"end":"'
                   || CASE WHEN d.valid_to IS NULL OR d.valid_to >= x.lapse_end
                           THEN x.end_text
                           ELSE replace(to_char(d.valid_to AT TIME ZONE 'UTC',
                                                'YYYY-MM-DD"T"HH24:MI:SS.US'),
                                        '.000000', '') || '+00:00"' END
                   || '}',
                   ',' ORDER BY d.duty, d.username, d.valid_from) || ']' AS responsible
      FROM texts x
      JOIN duty d
        ON d.cell_id = x.id
       AND (d.valid_from IS NULL OR d.valid_from < x.lapse_end)
       AND (d.valid_to IS NULL OR d.valid_to > x.lapse_start)
     GROUP BY x.n
)
SELECT x.id AS cell_id, x.lapse, x.lapse_start, x.lapse_end, x.last_patrol_at, x.vacant,
       coalesce(p.responsible, '[]') AS responsible
  FROM texts x
  LEFT JOIN people p ON p.n = x.n
