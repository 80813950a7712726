-- The per-parent roll-up (cell_rollup, migration 0014): for each cell with unit cells among its
-- children, its leaves' summaries folded into counts and sorted instants, so that how many of
-- them have each gap reason at any instant t the row is exact for is read from the row alone
-- (width_bucket(t, sorted) = how many instants lie at or before t, a binary search). Mirrors
-- the "now" branch of gaps_base.sql reason by reason:
--   never_patrolled, open_hotspot, unstaffed   counts (unstaffed holds until staff_until)
--   unpatrolled                                 last_patrol_at + interval <= t
--   overdue_hotspot                             next_deadline < t (kept as next_deadline + 1 µs <= t)
--   uninspected_source                          greatest(created_at, inspected_at + interval) <= t
--   missed_problem                              t < the last missed_until
--   without gaps                                nogap_from <= t < nogap_until, per leaf
-- A row is exact for exact_from <= t < exact_until: after its newest patrol (one observed
-- ahead of the clock is read from the history), after the leaves' validity and the sources'
-- retirements it leaves out, before the first staffing change; -infinity when a leaf with
-- duties has no staffing summary. Outside that, readers count the parent's leaves the usual way.
-- Parent 0 stands for the leaves with no parent. (PL/pgSQL, as the functions below: the
-- migrations before 0014 install these files before the tables exist.)
CREATE OR REPLACE FUNCTION gridwatch_refresh_rollup(parents bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    WITH p AS (
        SELECT DISTINCT x AS id FROM unnest(parents) x WHERE x IS NOT NULL
    ), leaf AS (
        SELECT coalesce(c.parent_id, 0) AS parent_id, c.valid_from, c.valid_to,
               s.last_patrol_at,
               s.last_patrol_at + make_interval(hours => c.patrol_interval_hours) AS due_at,
               coalesce(s.open_hotspots, 0) > 0 AS open_hotspot,
               s.next_deadline + interval '1 microsecond' AS overdue_at,
               s.has_leader AND s.has_member AS staffed,
               -- no staffing summary: the gap engine reads the duties; none at all is
               -- unstaffed for good (until a duty comes, and its trigger writes a summary)
               s.has_leader IS NULL
               AND EXISTS (SELECT 1 FROM duties d WHERE d.cell_id = c.id) AS no_staffing,
               s.staff_until,
               (SELECT max(m) FROM unnest(s.missed_until) m) AS missed_end,
               src.uninspected_at, src.retired
          FROM (SELECT * FROM cells WHERE parent_id = ANY (parents) AND is_leaf
                UNION ALL  -- apart, so that each part goes through the index on parent_id
                SELECT * FROM cells WHERE parent_id IS NULL AND is_leaf AND 0 = ANY (parents)) c
          LEFT JOIN cell_status s ON s.cell_id = c.id
          LEFT JOIN LATERAL (
              SELECT min(greatest(so.created_at,
                                  so.inspected_at
                                  + make_interval(hours => so.inspection_interval_hours)))
                         FILTER (WHERE so.retired_at IS NULL) AS uninspected_at,
                     max(so.retired_at) AS retired
                FROM sources so WHERE so.cell_id = c.id) src ON true
    ), counted AS (
        -- leaves valid from some instant on (none retired): the roll-up's leaves
        SELECT l.*,
               l.last_patrol_at IS NULL OR l.open_hotspot OR NOT coalesce(l.staffed, false)
                   AS always_gap,
               least(l.due_at, l.overdue_at, l.uninspected_at) AS gap_from
          FROM leaf l
         WHERE l.valid_to IS NULL
    ), shaped AS (
        SELECT c.*,
               NOT c.always_gap
               AND NOT coalesce(c.missed_end >= c.gap_from, false) AS can_be_clear
          FROM counted c
    ), rolled AS (
        SELECT p.id AS parent_id,
               coalesce((SELECT c.path FROM cells c WHERE c.id = p.id), '') AS path,
               count(s.parent_id) AS leaf_cells,
               count(*) FILTER (WHERE s.parent_id IS NOT NULL AND s.last_patrol_at IS NULL)
                   AS never_patrolled,
               count(*) FILTER (WHERE s.last_patrol_at IS NOT NULL) AS patrolled,
               count(*) FILTER (WHERE s.open_hotspot) AS open_hotspot,
               count(*) FILTER (WHERE s.parent_id IS NOT NULL AND NOT coalesce(s.staffed, false))
                   AS unstaffed,
               coalesce(array_agg(s.due_at ORDER BY s.due_at)
                        FILTER (WHERE s.due_at IS NOT NULL), '{}') AS unpatrolled_at,
               coalesce(array_agg(s.overdue_at ORDER BY s.overdue_at)
                        FILTER (WHERE s.overdue_at IS NOT NULL), '{}') AS overdue_at,
               coalesce(array_agg(s.uninspected_at ORDER BY s.uninspected_at)
                        FILTER (WHERE s.uninspected_at IS NOT NULL), '{}') AS uninspected_at,
               coalesce(array_agg(s.missed_end ORDER BY s.missed_end)
                        FILTER (WHERE s.missed_end IS NOT NULL), '{}') AS missed_until,
               coalesce(array_agg(coalesce(s.missed_end, '-infinity') ORDER BY s.missed_end
                                  NULLS FIRST)
                        FILTER (WHERE s.can_be_clear), '{}') AS clear_from,
               coalesce(array_agg(coalesce(s.gap_from, 'infinity') ORDER BY s.gap_from)
                        FILTER (WHERE s.can_be_clear), '{}') AS clear_until,
               CASE WHEN p.id = 0 OR bool_or(s.no_staffing) THEN '-infinity'::timestamptz
                    ELSE coalesce(min(s.staff_until), 'infinity') END AS exact_until
          FROM p
          LEFT JOIN shaped s ON s.parent_id = p.id
         GROUP BY p.id
    ), bounds AS (
        SELECT l.parent_id,
               greatest(max(l.last_patrol_at), max(l.valid_from), max(l.valid_to),
                        max(l.retired)) AS exact_from
          FROM leaf l
         GROUP BY l.parent_id
    ), gone AS (
        DELETE FROM cell_rollup r
         WHERE r.parent_id IN (SELECT id FROM p)
           AND NOT EXISTS (SELECT 1 FROM bounds b WHERE b.parent_id = r.parent_id)
    )
    INSERT INTO cell_rollup AS r (parent_id, path, leaf_cells, never_patrolled, patrolled,
                                  open_hotspot, unstaffed, unpatrolled_at, overdue_at,
                                  uninspected_at, missed_until, clear_from, clear_until,
                                  exact_from, exact_until, updated_at)
    SELECT o.parent_id, o.path, o.leaf_cells, o.never_patrolled, o.patrolled, o.open_hotspot,
           o.unstaffed, o.unpatrolled_at, o.overdue_at, o.uninspected_at, o.missed_until,
           o.clear_from, o.clear_until, coalesce(b.exact_from, '-infinity'), o.exact_until,
           now()
      FROM rolled o
      JOIN bounds b ON b.parent_id = o.parent_id
    ON CONFLICT (parent_id) DO UPDATE
       SET path = excluded.path, leaf_cells = excluded.leaf_cells, never_patrolled = excluded.never_patrolled,
           patrolled = excluded.patrolled, open_hotspot = excluded.open_hotspot,
           unstaffed = excluded.unstaffed, unpatrolled_at = excluded.unpatrolled_at,
           overdue_at = excluded.overdue_at, uninspected_at = excluded.uninspected_at,
           missed_until = excluded.missed_until, clear_from = excluded.clear_from,
           clear_until = excluded.clear_until, exact_from = excluded.exact_from,
           exact_until = excluded.exact_until, updated_at = now();
END $$;

-- Which roll-up rows a change moves: noted now, recomputed once when the transaction commits
-- (gridwatch_rollup_flush). By parent, or by leaf (`cells`: their parents).
CREATE OR REPLACE FUNCTION gridwatch_rollup_touch_parents(parents bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('cell_rollup_dirty') IS NULL THEN
        RETURN;  -- a database not yet migrated to 0014
    END IF;
    INSERT INTO cell_rollup_dirty (parent_id)
    SELECT DISTINCT x FROM unnest(parents) x
     WHERE x IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM cell_rollup_dirty d WHERE d.parent_id = x);
END $$;

CREATE OR REPLACE FUNCTION gridwatch_rollup_touch(cells bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gridwatch_rollup_touch_parents(ARRAY(
        SELECT DISTINCT coalesce(c.parent_id, 0) FROM cells c
         WHERE c.id = ANY (cells) AND c.is_leaf));
END $$;

-- At commit (a deferred constraint trigger on cell_rollup_dirty): the parents this
-- transaction touched, locked as every summary writer locks (gridwatch_lock_cells: the
-- summary lock shared and each parent's lock in id order, or the summary lock alone for
-- many), then recomputed. Taken last and all at once, in order, these locks never wait in a
-- circle; holding them, the recomputation sees every other writer's committed leaves.
-- Rows other transactions noted are invisible here until they commit, and they deleted
-- theirs by then.
CREATE OR REPLACE FUNCTION gridwatch_rollup_flush() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE parents bigint[];
BEGIN
    WITH done AS (DELETE FROM cell_rollup_dirty RETURNING parent_id)
    SELECT array_agg(DISTINCT parent_id ORDER BY parent_id) INTO parents FROM done;
    IF parents IS NOT NULL THEN
        PERFORM gridwatch_lock_cells(parents);
        PERFORM gridwatch_refresh_rollup(parents);
    END IF;
    RETURN NULL;
END $$;

-- Parent cells' outlines for the map's low zooms, stored once per zoom band: in Web Mercator,
-- simplified to a tile pixel (4096 per tile) at the band's deepest zoom — so a tile of
-- districts neither reprojects nor carries vertices it cannot show. Band 0: z0–7, 1: z8–9,
-- 2: z10–12 (app/domain/supervision/tiles.py:OUTLINE_BAND). Leaves have none: from LEAF_ZOOM
-- on a tile draws them from cells.geom.
CREATE OR REPLACE FUNCTION gridwatch_refresh_outlines(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('cell_outlines') IS NULL THEN
        RETURN;  -- a database not yet migrated to 0014
    END IF;
    DELETE FROM cell_outlines WHERE cell_id = ANY (ids);
    INSERT INTO cell_outlines (cell_id, band, geom)
    SELECT c.id, b.band,
           ST_SimplifyPreserveTopology(ST_Transform(c.geom, 3857),
                                       40075016.68557849 / 2 ^ b.zoom / 4096)
      FROM cells c
     CROSS JOIN (VALUES (0, 7), (1, 9), (2, 12)) b(band, zoom)
     WHERE c.id = ANY (ids) AND NOT c.is_leaf;
END $$;
