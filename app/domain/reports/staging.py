"""The historical import's set-wise part (`gridwatch import-reports`, imports.py): the file's
parsed rows are COPYed into a temporary table, `import_rows`, and everything else is decided
and written from there in a fixed number of statements, whatever the file's size:

1. the ids already stored, or repeated in the file, with a different body: refused;
2. each new row's leaf cell, duty and previous counted patrol of the history (the lookup's
   own SQL, app/domain/reports/queries.py);
3. the voiding flags, in one pass over the rows, each reporter's oldest first
   (`_DECIDE`: the impossible-speed check needs the reporter's previous *counted* report,
   which the pass keeps as it goes, so a flagged jump never becomes the next row's previous);
4. report_keys, reports and the counted patrols' history (with the summaries' triggers);
5. one `report.create` audit entry per report, chained in SQL (import_audit.py).

The rule values come from the settings (Python); the temporary tables and functions live in
`pg_temp` and go with the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain.reports.flags import latest_observed_at
from app.domain.reports.queries import LEAF_CELLS, PREVIOUS_VISIT, NewReport
from app.domain.status import add_visits_from

WORK_MEM = "64MB"
# The COPY target: one row per parsed line of the file.
COLUMNS = (
    "line",
    "id",
    "person_id",
    "lon",
    "lat",
    "accuracy_m",
    "observed_at",
    "kind",
    "category",
    "description",
    "body_hash",
)
_CREATE = """
    CREATE TEMPORARY TABLE import_rows (
        line integer PRIMARY KEY, id uuid NOT NULL, person_id bigint NOT NULL,
        lon float8 NOT NULL, lat float8 NOT NULL, accuracy_m float8,
        observed_at timestamptz NOT NULL, kind text NOT NULL, category text,
        description text, body_hash text NOT NULL
    ) ON COMMIT DROP
"""
COPY = f"COPY import_rows ({', '.join(COLUMNS)}) FROM STDIN"

# Each row against the report stored under its id and the file's first row with that id
# (each reporter's rows oldest first, ties in file order): `fresh` rows are new reports.
_SEEN = text("""
    CREATE TEMPORARY TABLE import_seen ON COMMIT DROP AS
    SELECT s.line, s.id,
           CASE WHEN r.body_hash IS NOT NULL
                THEN r.body_hash <> s.body_hash OR r.reporter_id <> s.person_id
                ELSE first_value(s.body_hash) OVER w <> s.body_hash
                     OR first_value(s.person_id) OVER w <> s.person_id
           END AS different,
           r.body_hash IS NULL AND row_number() OVER w = 1 AS fresh
      FROM import_rows s
      LEFT JOIN report_keys k ON k.id = s.id
      LEFT JOIN reports r ON r.id = k.id AND r.observed_at = k.observed_at
    WINDOW w AS (PARTITION BY s.id ORDER BY s.person_id, s.observed_at, s.line)
""")
_DIFFERENT = text("SELECT line, id FROM import_seen WHERE different ORDER BY line")

# The new rows, their points indexed; their cells and duties (LEAF_CELLS); then each with
# its previous counted patrol in the history.
_FRESH = text("""
    CREATE TEMPORARY TABLE import_fresh ON COMMIT DROP AS
    SELECT s.*, s.observed_at AS at, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326) AS pt
      FROM import_rows s JOIN import_seen USING (line)
     WHERE import_seen.fresh
""")
_FRESH_INDEX = text("CREATE INDEX ON import_fresh USING gist (pt)")
_CELLS = text(
    "CREATE TEMPORARY TABLE import_cells ON COMMIT DROP AS"
    + LEAF_CELLS.format(points="import_fresh")
)
_NEW_SQL = """
    CREATE TEMPORARY TABLE import_new ON COMMIT DROP AS
    SELECT i.*, c.id AS cell_id, coalesce(c.on_duty, false) AS on_duty,
           v.observed_at AS history_at, v.geom AS history_geom
      FROM import_fresh i
      LEFT JOIN import_cells c USING (line)
      LEFT JOIN LATERAL ({PREVIOUS_VISIT}) v ON true
"""
_NEW = text(_NEW_SQL.format(PREVIOUS_VISIT=PREVIOUS_VISIT))

# SPEC §4's flags at intake, as app/domain/reports/flags.py's `voiding_flags` (same order,
# same rule values, bound from the settings; `late_sync` does not apply to an import), and
# `counts` without a review. One pass per reporter, oldest first (ties in file order): the
# previous counted report is the latest of the history's (`history_at`) and this pass's
# (`last_at`), the file's on a tie, as the batch intake chooses it.
_DECIDE_FUNCTION = """
    CREATE OR REPLACE FUNCTION pg_temp.gridwatch_import_decide(max_accuracy_m float8,
                                                    latest_at timestamptz,
                                                    max_speed_kmh float8)
    RETURNS TABLE (line integer, flags text[], counted boolean)
    LANGUAGE plpgsql AS $$
    DECLARE
        r record;
        person bigint;
        last_at timestamptz;
        last_pt geometry;
        prev_at timestamptz;
        prev_pt geometry;
        found text[];
    BEGIN
        FOR r IN SELECT n.line, n.person_id, n.observed_at, n.accuracy_m, n.cell_id, n.on_duty,
                        n.pt, n.history_at, n.history_geom
                   FROM import_new n ORDER BY n.person_id, n.observed_at, n.line LOOP
            IF person IS DISTINCT FROM r.person_id THEN
                person := r.person_id;
                last_at := NULL;
                last_pt := NULL;
            END IF;
            found := '{}';
            IF r.cell_id IS NULL THEN
                found := found || 'outside_cells'::text;
            ELSIF NOT r.on_duty THEN
                found := found || 'not_on_duty'::text;
            END IF;
            IF r.accuracy_m > max_accuracy_m THEN
                found := found || 'low_accuracy'::text;
            END IF;
            IF r.observed_at > latest_at THEN
                found := found || 'future_time'::text;
            END IF;
            IF last_at IS NOT NULL AND (r.history_at IS NULL OR last_at >= r.history_at) THEN
                prev_at := last_at;
                prev_pt := last_pt;
            ELSE
                prev_at := r.history_at;
                prev_pt := r.history_geom;
            END IF;
            -- flags.speed_kmh: metres / max(seconds, 1) * 3.6
            IF prev_at IS NOT NULL
               AND ST_Distance(prev_pt::geography, r.pt::geography)
                   / greatest(extract(epoch FROM r.observed_at - prev_at)::float8, 1.0) * 3.6
                   > max_speed_kmh THEN
                found := found || 'impossible_speed'::text;
            END IF;
            line := r.line;
            flags := found;
            counted := r.cell_id IS NOT NULL AND cardinality(found) = 0;
            IF counted THEN
                last_at := r.observed_at;
                last_pt := r.pt;
            END IF;
            RETURN NEXT;
        END LOOP;
    END $$
"""
_DECIDED = text("""
    CREATE TEMPORARY TABLE import_decided ON COMMIT DROP AS
    SELECT n.*, d.flags, d.counted,
           row_number() OVER (ORDER BY n.person_id, n.observed_at, n.line) AS n
      FROM import_new n
      JOIN pg_temp.gridwatch_import_decide(:max_accuracy_m, :latest_at, :max_speed_kmh) d
           USING (line)
""")
_DROP_DECIDE = text("DROP FUNCTION pg_temp.gridwatch_import_decide(float8, timestamptz, float8)")
_COUNTS = text("""
    SELECT (SELECT count(*) FROM import_rows) AS rows,
           count(*) AS added, count(*) FILTER (WHERE counted) AS counted,
           count(*) FILTER (WHERE cardinality(flags) > 0) AS flagged
      FROM import_decided
""")

# The ids are claimed in `report_keys` first (unique across the months of `reports`); one
# another transaction claimed since the lookup makes the import stop (`claim`).
_CLAIM = text("""
    WITH claimed AS (
        INSERT INTO report_keys (id, observed_at)
        SELECT id, observed_at FROM import_decided ORDER BY n
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    )
    SELECT count(*) FROM claimed
""")
_CLAIMED_BEFORE = text("""
    SELECT d.line, d.id FROM import_decided d
     WHERE NOT EXISTS (SELECT 1 FROM reports r WHERE r.id = d.id AND r.observed_at = d.observed_at)
     ORDER BY d.line
""")
_INSERT = text("""
    INSERT INTO reports (id, reporter_id, cell_id, geom, lat, lon, accuracy_m, observed_at,
                         received_at, kind, category, description, source_id, flags, counted,
                         body_hash, origin)
    SELECT id, person_id, cell_id, pt, lat, lon, accuracy_m, observed_at, :received_at, kind,
           category, description, NULL, flags, counted, body_hash, :origin
      FROM import_decided ORDER BY n
""")
_VISITS = """
        SELECT n, cell_id, person_id, observed_at, pt AS geom, id AS report_id,
               NULL::uuid AS patrol_id
          FROM import_decided WHERE counted"""
_ISSUES = text("""
    SELECT n, id, person_id, cell_id, lat, lon, accuracy_m, observed_at, kind, category,
           description, flags, counted, body_hash
      FROM import_decided WHERE kind = 'issue' AND n > :after ORDER BY n LIMIT :limit
""")


def stage(session: Session) -> Any:
    """Create the staging table; the driver's connection, to COPY the rows into it."""
    # The statements below sort the whole file (each reporter's rows oldest first, the audit
    # chain in order): in memory up to this much per sort, on disk beyond, for this
    # transaction only.
    session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    session.execute(text(_CREATE))
    return session.connection().connection.driver_connection


def different_bodies(session: Session) -> list[tuple[int, str]]:
    """(line, id) of each row whose id was filed (before, or earlier in the file) with a
    different body or by someone else."""
    session.execute(text("ANALYZE import_rows"))
    session.execute(_SEEN)
    return [(line, str(rid)) for line, rid in session.execute(_DIFFERENT)]


def decide(session: Session, received_at: datetime) -> dict[str, int]:
    """Cells, duties, flags and counting of the new rows; the file's counts."""
    settings = get_settings()
    for statement in (_FRESH, _FRESH_INDEX, text("ANALYZE import_fresh"), _CELLS, _NEW):
        session.execute(statement)
    session.execute(text(_DECIDE_FUNCTION))
    session.execute(
        _DECIDED,
        {
            "max_accuracy_m": settings.max_accuracy_m,
            "latest_at": latest_observed_at(received_at),
            "max_speed_kmh": settings.max_speed_kmh,
        },
    )
    # A temporary function lives as long as the server session, not the transaction: dropped
    # here, in the transaction that made it, so no state outlives it (a pooled connection or
    # PgBouncer in transaction mode hands the server session to the next transaction).
    session.execute(_DROP_DECIDE)
    row = session.execute(_COUNTS).one()
    return dict(row._mapping)


def claim(session: Session, expected: int) -> list[tuple[int, str]]:
    """Claim the new ids; those another transaction stored meanwhile, if any (nothing is
    inserted then: the caller refuses the file)."""
    if session.execute(_CLAIM).scalar_one() == expected:
        return []
    return [(line, str(rid)) for line, rid in session.execute(_CLAIMED_BEFORE)]


def insert(session: Session, received_at: datetime, origin: str) -> None:
    """The new reports, and the counted ones' patrols in the history and the summaries."""
    session.execute(_INSERT, {"received_at": received_at, "origin": origin})
    add_visits_from(session, _VISITS)


def issue_reports(session: Session, received_at: datetime, origin: str, chunk: int) -> Any:
    """The new `issue` reports, `chunk` at a time, as intake's NewReport (for their cases)."""
    after = 0
    while True:
        rows = session.execute(_ISSUES, {"after": after, "limit": chunk}).all()
        if not rows:
            return
        after = rows[-1].n
        yield [
            NewReport(
                id=r.id,
                reporter_id=r.person_id,
                cell_id=r.cell_id,
                lat=r.lat,
                lon=r.lon,
                accuracy_m=r.accuracy_m,
                observed_at=r.observed_at,
                received_at=received_at,
                kind=r.kind,
                category=r.category,
                description=r.description,
                source_id=None,
                flags=list(r.flags),
                counted=r.counted,
                body_hash=r.body_hash,
                origin=origin,
            )
            for r in rows
        ]
