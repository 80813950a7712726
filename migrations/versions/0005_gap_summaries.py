"""Summaries for the remaining gap reasons, so that gaps *now* never read history:

- `cell_status.has_leader`, `has_member`, `staff_until`: the cell's staffing as of the last
  change of its duties, valid until `staff_until` (the next start or end of one of its duties;
  NULL = no change ahead). Past that instant the gap query reads the duties themselves.
- `cell_status.missed_until`: for each hotspot the grid missed (and that was never rejected),
  the instant it stops counting as a missed problem (found + 30 days).
- `sources.inspected_at`: the newest counted patrol within 50 m of the source.

Kept by statement-level triggers, set-wise, whatever writes the rows (API, CLI imports, a
restore). Writers lock a cell's summary as app/domain/status.py does (advisory lock 7301 per
cell), or the whole summary table for a bulk change, so concurrent recomputations never lose
one another's rows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 07:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = """
CREATE OR REPLACE FUNCTION gridwatch_lock_cells(cells bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c bigint;
    distinct_cells bigint[] := ARRAY(SELECT DISTINCT x FROM unnest(cells) x
                                      WHERE x IS NOT NULL ORDER BY 1);
BEGIN
    -- The protocol app/domain/status.py:lock_cell follows too: every writer of a summary
    -- first holds the summary lock (7302, 0) shared, then each cell's lock (7301, cell) in
    -- cell order. Many cells at once take the summary lock exclusively instead (a transaction
    -- can hold only so many locks): no other writer is then between its locks.
    IF cardinality(distinct_cells) > 256 THEN
        PERFORM pg_advisory_xact_lock(7302, 0);
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(7302, 0);
    FOREACH c IN ARRAY distinct_cells LOOP
        PERFORM pg_advisory_xact_lock(7301, ((c + 2147483648) % 4294967296 - 2147483648)::int);
    END LOOP;
END $$;

-- Staffing of `cells` now, and until when that holds.
CREATE OR REPLACE FUNCTION gridwatch_refresh_staff(cells bigint[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO cell_status AS s (cell_id, has_leader, has_member, staff_until, updated_at)
    SELECT c.id,
           coalesce(bool_or(d.duty = 'leader') FILTER (WHERE d.active), false),
           coalesce(bool_or(d.duty IN ('member', 'patroller')) FILTER (WHERE d.active), false),
           least(min(d.valid_from) FILTER (WHERE d.valid_from > now()),
                 min(d.valid_to) FILTER (WHERE d.valid_to > now())),
           now()
      FROM (SELECT DISTINCT x AS id FROM unnest(cells) x WHERE x IS NOT NULL) c
      LEFT JOIN LATERAL (
          SELECT d.duty, d.valid_from, d.valid_to,
                 (d.valid_from IS NULL OR d.valid_from <= now())
                 AND (d.valid_to IS NULL OR d.valid_to > now()) AS active
            FROM duties d WHERE d.cell_id = c.id) d ON true
     GROUP BY c.id
    ON CONFLICT (cell_id) DO UPDATE
       SET has_leader = excluded.has_leader, has_member = excluded.has_member,
           staff_until = excluded.staff_until, updated_at = now()
$$;

-- Missed problems of `cells`: when each stops counting (SPEC §5: found within 30 days).
CREATE OR REPLACE FUNCTION gridwatch_refresh_missed(cells bigint[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO cell_status AS s (cell_id, missed_until, updated_at)
    SELECT c.id,
           coalesce(array_agg(h.found_at + interval '30 days' ORDER BY h.found_at)
                    FILTER (WHERE h.id IS NOT NULL), '{}'),
           now()
      FROM (SELECT DISTINCT x AS id FROM unnest(cells) x WHERE x IS NOT NULL) c
      LEFT JOIN hotspots h
             ON h.cell_id = c.id AND h.missed_by_grid
            AND NOT EXISTS (SELECT 1 FROM hotspot_events ev
                             WHERE ev.hotspot_id = h.id AND ev.to_status = 'rejected')
     GROUP BY c.id
    ON CONFLICT (cell_id) DO UPDATE
       SET missed_until = excluded.missed_until, updated_at = now()
$$;

-- The newest counted patrol within 50 m of each of `ids`, from the history.
CREATE OR REPLACE FUNCTION gridwatch_refresh_inspection(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- Lock first: the recomputation below then sees every visit committed before it.
    PERFORM 1 FROM sources WHERE id = ANY (ids) ORDER BY id FOR UPDATE;
    UPDATE sources s
       SET inspected_at = (
           SELECT max(v.observed_at)
             FROM cells nc
             JOIN cell_visits v ON v.cell_id = nc.id
            WHERE nc.is_leaf
              AND nc.geom && ST_Expand(s.geom, 0.002)
              AND v.geom && ST_Expand(s.geom, 0.001)
              AND ST_DWithin(v.geom::geography, s.geom::geography, 50))
     WHERE s.id = ANY (ids);
END $$;

CREATE OR REPLACE FUNCTION gridwatch_duties_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE cells bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(cell_id) INTO cells FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(cell_id) INTO cells FROM old_rows;
    ELSE
        SELECT array_agg(cell_id) INTO cells
          FROM (SELECT cell_id FROM new_rows UNION SELECT cell_id FROM old_rows) x;
    END IF;
    IF cells IS NOT NULL THEN
        PERFORM gridwatch_lock_cells(cells);
        PERFORM gridwatch_refresh_staff(cells);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION gridwatch_hotspots_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE cells bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(cell_id) INTO cells FROM new_rows WHERE missed_by_grid;
    ELSE
        SELECT array_agg(cell_id) INTO cells
          FROM (SELECT n.cell_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                 WHERE (n.missed_by_grid OR o.missed_by_grid)
                   AND (n.missed_by_grid, n.cell_id, n.found_at)
                       IS DISTINCT FROM (o.missed_by_grid, o.cell_id, o.found_at)
                UNION
                SELECT o.cell_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                 WHERE o.missed_by_grid AND n.cell_id IS DISTINCT FROM o.cell_id) x;
    END IF;
    IF cells IS NOT NULL THEN
        PERFORM gridwatch_lock_cells(cells);
        PERFORM gridwatch_refresh_missed(cells);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION gridwatch_hotspot_rejected() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE cells bigint[];
BEGIN
    SELECT array_agg(h.cell_id) INTO cells
      FROM new_rows n JOIN hotspots h ON h.id = n.hotspot_id
     WHERE n.to_status = 'rejected' AND h.missed_by_grid;
    IF cells IS NOT NULL THEN
        PERFORM gridwatch_lock_cells(cells);
        PERFORM gridwatch_refresh_missed(cells);
    END IF;
    RETURN NULL;
END $$;

-- New counted patrols advance the sources they pass within 50 m of. Every such source row is
-- updated (and so locked) even when its time does not move: a concurrent recomputation
-- (a patrol voided nearby) then waits for this one and sees its patrol.
CREATE OR REPLACE FUNCTION gridwatch_visits_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sources s
       SET inspected_at = GREATEST(s.inspected_at, v.at)
      FROM (SELECT s2.id, max(n.observed_at) AS at
              FROM new_rows n
              JOIN sources s2 ON s2.geom && ST_Expand(n.geom, 0.001)
                             AND ST_DWithin(s2.geom::geography, n.geom::geography, 50)
             GROUP BY s2.id
             ORDER BY s2.id) v
     WHERE s.id = v.id;
    RETURN NULL;
END $$;

-- Removed patrols (a report stopped counting): recompute the sources near them.
CREATE OR REPLACE FUNCTION gridwatch_visits_removed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE ids bigint[];
BEGIN
    SELECT array_agg(DISTINCT s.id) INTO ids
      FROM old_rows o
      JOIN sources s ON s.geom && ST_Expand(o.geom, 0.001)
                    AND ST_DWithin(s.geom::geography, o.geom::geography, 50);
    IF ids IS NOT NULL THEN
        PERFORM gridwatch_refresh_inspection(ids);
    END IF;
    RETURN NULL;
END $$;

-- A new or moved source: which patrols passed within 50 m of it.
CREATE OR REPLACE FUNCTION gridwatch_source_placed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.inspected_at := (
        SELECT max(v.observed_at)
          FROM cells nc
          JOIN cell_visits v ON v.cell_id = nc.id
         WHERE nc.is_leaf
           AND nc.geom && ST_Expand(NEW.geom, 0.002)
           AND v.geom && ST_Expand(NEW.geom, 0.001)
           AND ST_DWithin(v.geom::geography, NEW.geom::geography, 50));
    RETURN NEW;
END $$;
"""

# The triggers TRIGGERS creates, with their tables: dropped before they are created again
# (a re-run after a restore) and on downgrade.
TRIGGER_TABLES = [
    ("duties_inserted", "duties"),
    ("duties_updated", "duties"),
    ("duties_deleted", "duties"),
    ("hotspots_inserted", "hotspots"),
    ("hotspots_updated", "hotspots"),
    ("hotspot_events_inserted", "hotspot_events"),
    ("cell_visits_inserted", "cell_visits"),
    ("cell_visits_deleted", "cell_visits"),
    ("sources_placed", "sources"),
]


def drop_triggers(if_exists: bool) -> str:
    guard = "IF EXISTS " if if_exists else ""
    return "".join(f"DROP TRIGGER {guard}{name} ON {table};\n" for name, table in TRIGGER_TABLES)


TRIGGERS = """
CREATE TRIGGER duties_inserted AFTER INSERT ON duties
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_duties_changed();
CREATE TRIGGER duties_updated AFTER UPDATE ON duties
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_duties_changed();
CREATE TRIGGER duties_deleted AFTER DELETE ON duties
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_duties_changed();
CREATE TRIGGER hotspots_inserted AFTER INSERT ON hotspots
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_hotspots_changed();
CREATE TRIGGER hotspots_updated AFTER UPDATE ON hotspots
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_hotspots_changed();
CREATE TRIGGER hotspot_events_inserted AFTER INSERT ON hotspot_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_hotspot_rejected();
CREATE TRIGGER cell_visits_inserted AFTER INSERT ON cell_visits
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_visits_added();
CREATE TRIGGER cell_visits_deleted AFTER DELETE ON cell_visits
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_visits_removed();
CREATE TRIGGER sources_placed BEFORE INSERT OR UPDATE OF geom ON sources
    FOR EACH ROW EXECUTE FUNCTION gridwatch_source_placed();
"""

# Fill the summaries from what the database holds (also used after a bulk load that ran
# without triggers, e.g. bench/generate.py).
BACKFILL = """
SELECT gridwatch_refresh_staff(array_agg(id)) FROM cells WHERE is_leaf;
SELECT gridwatch_refresh_missed(array_agg(DISTINCT cell_id)) FROM hotspots WHERE missed_by_grid;
SELECT gridwatch_refresh_inspection(array_agg(id)) FROM sources;
"""

DROP = """
DROP FUNCTION gridwatch_source_placed();
DROP FUNCTION gridwatch_visits_removed();
DROP FUNCTION gridwatch_visits_added();
DROP FUNCTION gridwatch_hotspot_rejected();
DROP FUNCTION gridwatch_hotspots_changed();
DROP FUNCTION gridwatch_duties_changed();
DROP FUNCTION gridwatch_refresh_inspection(bigint[]);
DROP FUNCTION gridwatch_refresh_missed(bigint[]);
DROP FUNCTION gridwatch_refresh_staff(bigint[]);
DROP FUNCTION gridwatch_lock_cells(bigint[]);
"""


def upgrade() -> None:
    # IF NOT EXISTS / OR REPLACE throughout: a restore of an older backup (pg_restore --clean
    # drops tables, not functions) can be migrated again.
    op.execute("""
        ALTER TABLE cell_status ADD COLUMN IF NOT EXISTS has_leader boolean,
                                ADD COLUMN IF NOT EXISTS has_member boolean,
                                ADD COLUMN IF NOT EXISTS staff_until timestamptz,
                                ADD COLUMN IF NOT EXISTS missed_until timestamptz[]
                                    NOT NULL DEFAULT '{}';
        ALTER TABLE sources ADD COLUMN IF NOT EXISTS inspected_at timestamptz;
    """)
    op.execute(FUNCTIONS)
    op.execute(drop_triggers(if_exists=True) + TRIGGERS)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute(drop_triggers(if_exists=False) + DROP)
    op.drop_column("sources", "inspected_at")
    for column in ("missed_until", "staff_until", "has_member", "has_leader"):
        op.drop_column("cell_status", column)
