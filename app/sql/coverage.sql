-- Coverage quality (SPEC §5) of some cells at instant t: the share of each cell's area within
-- 150 m of its counted patrol points (reports and track points) in its last patrol interval,
-- and, over the 30 days before t, how many patrols (a report, or a track counted once) fell
-- at night (20:00-06:00 local) or on a weekend — patrols only in office hours are predictable.
WITH c AS (
    SELECT id, code, geom, area_m2, make_interval(hours => patrol_interval_hours) AS span
      FROM cells
     WHERE id = ANY (CAST(:ids AS bigint[]))
),
reach AS (
    SELECT c.id, ST_Union(ST_Buffer(v.geom::geography, 150)::geometry) AS geom
      FROM c
      JOIN cell_visits v ON v.cell_id = c.id
           AND v.observed_at > CAST(:t AS timestamptz) - c.span AND v.observed_at <= :t
     GROUP BY c.id
),
patrols AS (
    SELECT v.cell_id AS id, min(v.observed_at) AT TIME ZONE CAST(:tz AS text) AS local_at
      FROM cell_visits v
      JOIN c ON c.id = v.cell_id
     WHERE v.observed_at > CAST(:t AS timestamptz) - interval '30 days' AND v.observed_at <= :t
     GROUP BY v.cell_id, coalesce(v.report_id, v.patrol_id)
),
timing AS (
    SELECT id, count(*) AS patrols_30d,
           count(*) FILTER (WHERE extract(hour FROM local_at) >= 20
                               OR extract(hour FROM local_at) < 6) AS night,
           count(*) FILTER (WHERE extract(isodow FROM local_at) >= 6) AS weekend
      FROM patrols
     GROUP BY id
)
SELECT c.code,
       CASE WHEN c.area_m2 > 0 AND r.geom IS NOT NULL
            THEN least(1.0, ST_Area(ST_Intersection(c.geom, r.geom)::geography) / c.area_m2)
            ELSE 0 END AS spatial_share,
       coalesce(t.patrols_30d, 0) AS patrols_30d,
       coalesce(t.night, 0) AS night_patrols_30d,
       coalesce(t.weekend, 0) AS weekend_patrols_30d
  FROM c
  LEFT JOIN reach r ON r.id = c.id
  LEFT JOIN timing t ON t.id = c.id
 ORDER BY c.code
