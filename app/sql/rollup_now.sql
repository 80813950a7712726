-- Gap counts per area at an instant t the maintained summaries answer for, from the
-- per-parent roll-up (cell_rollup, fn_refresh_rollup.sql): each area is the ancestor at path
-- position idx of the roll-up rows under it. A row counts here when it lies inside the
-- selection (root_path, under: through the path index), at or below depth idx, and is exact
-- at t. `slow` lists the leaves of the selection it does not answer for — those of the other
-- rows, those without a parent, and a root or `under` entry that is a leaf itself — which the
-- caller counts the usual way (gaps_base.sql) and adds up.
WITH r AS (
    SELECT r.*,
           nlevel(r.path) > :idx AND r.exact_from <= :t AND :t < r.exact_until AS usable
      FROM cell_rollup r
     WHERE (CAST(:root_path AS ltree) IS NULL OR r.path <@ CAST(:root_path AS ltree))
       AND (CAST(:under AS ltree[]) IS NULL OR r.path <@ CAST(:under AS ltree[]))
),
counted AS (
    SELECT ltree2text(subpath(r.path, :idx, 1))::bigint AS id,
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
),
slow AS (
    SELECT c.id, c.path FROM cells c
     WHERE c.parent_id = ANY (ARRAY(SELECT r.parent_id FROM r WHERE NOT r.usable))
       AND c.is_leaf
    UNION
    SELECT c.id, c.path FROM cells c WHERE c.parent_id IS NULL AND c.is_leaf
    UNION
    SELECT c.id, c.path FROM cells c
     WHERE c.id IN (SELECT ltree2text(subpath(u, -1))::bigint
                      FROM unnest(CAST(:under AS ltree[]) || CAST(:root_path AS ltree)) u)
       AND c.is_leaf
)
SELECT coalesce((SELECT json_agg(a ORDER BY a.id) FROM areas a), '[]') AS areas,
       ARRAY(
           SELECT s.id FROM slow s
            WHERE (CAST(:root_path AS ltree) IS NULL OR s.path <@ CAST(:root_path AS ltree))
              AND (CAST(:under AS ltree[]) IS NULL OR s.path <@ CAST(:under AS ltree[]))
            ORDER BY s.id) AS slow
