-- Candidates for an unannounced spot check (暗访): leaf cells and ledger sources of a subtree
-- with what makes them worth a visit — staleness, recent flagged reports, risk.
WITH leaves AS (
    SELECT c.id, c.code, c.name, c.risk, c.patrol_interval_hours AS interval_hours,
           ST_PointOnSurface(c.geom) AS spot
      FROM cells c
     WHERE c.is_leaf
       AND (CAST(:root_path AS ltree) IS NULL OR c.path <@ CAST(:root_path AS ltree))
       AND (CAST(:cell_ids AS bigint[]) IS NULL OR c.id = ANY (CAST(:cell_ids AS bigint[])))
       AND (c.valid_to IS NULL OR c.valid_to > CAST(:now AS timestamptz))
)
SELECT 'cell' AS kind, l.code AS ref, l.name, l.risk, ST_X(l.spot) AS lon, ST_Y(l.spot) AS lat,
       extract(epoch FROM CAST(:now AS timestamptz) - s.last_patrol_at) / 3600 / l.interval_hours AS staleness,
       (SELECT count(*) FROM reports r
         WHERE r.cell_id = l.id AND r.observed_at > CAST(:now AS timestamptz) - interval '30 days'
           AND cardinality(r.flags) > 0) AS flagged
  FROM leaves l
  LEFT JOIN cell_status s ON s.cell_id = l.id
UNION ALL
-- A source is as stale as the gaps say (gaps_base.sql): since its newest counted patrol
-- within the source radius (sources.inspected_at); a survey or an edit is no inspection.
SELECT 'source', src.id::text, src.name, l.risk, src.lon, src.lat,
       extract(epoch FROM CAST(:now AS timestamptz) - src.inspected_at)
           / 3600 / src.inspection_interval_hours,
       0
  FROM sources src
  JOIN leaves l ON l.id = src.cell_id
 WHERE src.retired_at IS NULL
