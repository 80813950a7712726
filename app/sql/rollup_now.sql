-- Gap counts per area at an instant t the maintained summaries answer for, from the
-- per-parent roll-up (cell_rollup, fn_refresh_rollup.sql): each area is the ancestor at path
-- position idx of the roll-up rows under it. A row counts here when it lies wholly inside the
-- selection (root_path, under), at or below depth idx, and is exact at t; the leaves of the
-- other rows that meet the selection, and the leaves without a parent, are `slow`: the
-- caller counts them the usual way (gaps_base.sql) and adds them up.
WITH r AS (
    SELECT r.*, p.path AS ppath,
           nlevel(p.path) > :idx
           AND (CAST(:root_path AS ltree) IS NULL OR p.path <@ CAST(:root_path AS ltree))
           AND (CAST(:under AS ltree[]) IS NULL OR p.path <@ CAST(:under AS ltree[]))
           AND r.exact_from <= :t AND :t < r.exact_until AS usable
      FROM cell_rollup r
      JOIN cells p ON p.id = r.parent_id
     WHERE (CAST(:root_path AS ltree) IS NULL OR p.path <@ CAST(:root_path AS ltree)
            OR p.path @> CAST(:root_path AS ltree))
       AND (CAST(:under AS ltree[]) IS NULL OR p.path <@ CAST(:under AS ltree[])
            OR p.path @> CAST(:under AS ltree[]))
),
counted AS (
    SELECT ltree2text(subpath(r.ppath, :idx, 1))::bigint AS id,
           r.leaf_cells,
           r.never_patrolled,
           width_bucket(CAST(:t AS timestamptz), r.unpatrolled_at) AS unpatrolled,
           r.open_hotspot,
           width_bucket(CAST(:t AS timestamptz), r.overdue_at) AS overdue_hotspot,
           r.unstaffed,
           width_bucket(CAST(:t AS timestamptz), r.uninspected_at) AS uninspected_source,
           cardinality(r.missed_until) - width_bucket(CAST(:t AS timestamptz), r.missed_until)
               AS missed_problem,
           width_bucket(CAST(:t AS timestamptz), r.clear_from)
           - width_bucket(CAST(:t AS timestamptz), r.clear_until) AS without_gaps,
           r.patrolled
      FROM r
     WHERE r.usable
),
areas AS (
    SELECT id,
           sum(leaf_cells)::int AS leaf_cells,
           sum(without_gaps)::int AS without_gaps,
           sum(never_patrolled)::int AS never_patrolled,
           sum(unpatrolled)::int AS unpatrolled,
           sum(open_hotspot)::int AS open_hotspot,
           sum(overdue_hotspot)::int AS overdue_hotspot,
           sum(unstaffed)::int AS unstaffed,
           sum(uninspected_source)::int AS uninspected_source,
           sum(missed_problem)::int AS missed_problem,
           sum(patrolled - unpatrolled)::int AS patrolled
      FROM counted
     GROUP BY id
)
SELECT coalesce((SELECT json_agg(a ORDER BY a.id) FROM areas a), '[]') AS areas,
       ARRAY(
           SELECT c.id FROM cells c
            WHERE c.is_leaf
              AND (c.parent_id IN (SELECT r.parent_id FROM r WHERE NOT r.usable)
                   OR c.parent_id IS NULL)
              AND (CAST(:root_path AS ltree) IS NULL OR c.path <@ CAST(:root_path AS ltree))
              AND (CAST(:under AS ltree[]) IS NULL OR c.path <@ CAST(:under AS ltree[]))
            ORDER BY c.id) AS slow
