"""The statements of report intake (app/domain/reports/intake.py), each for any number of reports at
once: look them up, measure a distance, insert them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from app.db import json_param


@dataclass(frozen=True, slots=True)
class NewReport:
    """A report as intake inserted it: the reports of one call are inserted together in one
    statement, not through the ORM (see `file_reports`)."""

    id: uuid.UUID
    reporter_id: int
    cell_id: int | None
    lat: float  # WGS-84, after any gcj02/bd09 conversion
    lon: float
    accuracy_m: float | None
    observed_at: datetime
    received_at: datetime
    kind: str
    category: str | None
    description: str | None
    source_id: int | None
    flags: list[str]
    counted: bool
    body_hash: str
    origin: str
    review_status: str | None = None  # nobody has reviewed a new report


# The statements take their rows as one JSON array (json_to_recordset): one parameter however
# many rows, instead of an array per column for the driver to adapt.

# Whether person `who`.person_id holds a duty on cell `cell` at `who`.at (as
# scope.holds_duty), and whether cell `cell` is valid then: the two conditions of a leaf cell
# lookup, written once for the one-point and the many-points forms below.
_ON_DUTY = """EXISTS (SELECT 1 FROM duties d
                            WHERE d.cell_id = {cell}.id AND d.person_id = {who}.person_id
                              AND (d.valid_from IS NULL OR d.valid_from <= {who}.at)
                              AND (d.valid_to IS NULL OR d.valid_to > {who}.at))"""
_VALID_AT = """({cell}.valid_from IS NULL OR {cell}.valid_from <= {who}.at)
               AND ({cell}.valid_to IS NULL OR {cell}.valid_to > {who}.at)"""

# An item `i` (person_id, at, pt)'s leaf cell (SPEC §2: the smallest code covering the point,
# as cells.leaf_cell_at) with whether the person holds a duty there then; and the person's
# previous counted patrol in the history (the latest at or before `at`). Shared by the lookup
# below and the historical import's staging statements.
_LEAF_CELL_SQL = """
            SELECT cells.id, cells.code,
                   {on_duty} AS on_duty
              FROM cells
             WHERE cells.is_leaf AND ST_Covers(cells.geom, i.pt)
               AND {valid}
             ORDER BY cells.code
             LIMIT 1"""
LEAF_CELL = _LEAF_CELL_SQL.format(
    on_duty=_ON_DUTY.format(cell="cells", who="i"), valid=_VALID_AT.format(cell="cells", who="i")
)
# LEAF_CELL for many points at once, `i` (line, person_id, at, pt) a table with a GiST index
# on `pt`: the same rule (leaf, covering, valid then, the smallest code; the duty) from the
# cells' side — one index probe per cell instead of one per point, ~30x faster for a file.
_LEAF_CELLS_SQL = """
            SELECT DISTINCT ON (x.line) x.line, c.id,
                   {on_duty} AS on_duty
              FROM cells c
             CROSS JOIN LATERAL (
                   SELECT i.line, i.person_id, i.at FROM {{points}} i
                    WHERE i.pt && c.geom AND ST_Covers(c.geom, i.pt)) x
             WHERE c.is_leaf
               AND {valid}
             ORDER BY x.line, c.code"""
LEAF_CELLS = _LEAF_CELLS_SQL.format(
    on_duty=_ON_DUTY.format(cell="c", who="x"), valid=_VALID_AT.format(cell="c", who="x")
)
PREVIOUS_VISIT = """
            SELECT observed_at, geom FROM cell_visits
             WHERE person_id = i.person_id AND observed_at <= i.at
             ORDER BY observed_at DESC
             LIMIT 1"""

# Every item's stored twin (same id), leaf cell (SPEC §2: the smallest code covering the
# point, as cells.leaf_cell_at) with whether the reporter holds a duty there then (as
# scope.holds_duty), the reporter's previous counted patrol (latest in the history at or
# before the item's time) with its distance, and the distances to the items `before`,
# `before2`, `before3` (earlier items of the reporter's, each one the previous patrol if it is
# the latest earlier one that counts: the one before, and those before it when it does not).
_LOOKUP_SQL = """
    WITH item AS MATERIALIZED (
        SELECT i.n, i.id, i.person_id, i.at, i.before, i.before2, i.before3,
               ST_SetSRID(ST_MakePoint(i.lon, i.lat), 4326) AS pt
          FROM json_to_recordset(CAST(:items AS json))
               AS i(n bigint, id uuid, person_id bigint, lon float8, lat float8, at timestamptz,
                    before bigint, before2 bigint, before3 bigint)
    )
    SELECT i.n, r.reporter_id AS stored_reporter_id, r.body_hash AS stored_hash,
           c.id AS cell_id, c.code AS cell_code, coalesce(c.on_duty, false) AS on_duty,
           v.observed_at AS previous_at,
           ST_Distance(v.geom::geography, i.pt::geography) AS previous_m,
           ST_Distance(b.pt::geography, i.pt::geography) AS before_m,
           ST_Distance(b2.pt::geography, i.pt::geography) AS before2_m,
           ST_Distance(b3.pt::geography, i.pt::geography) AS before3_m
      FROM item i
      LEFT JOIN reports r ON r.id = i.id
      LEFT JOIN LATERAL ({LEAF_CELL}) c ON true
      LEFT JOIN LATERAL ({PREVIOUS_VISIT}) v ON true
      LEFT JOIN item b ON b.n = i.before
      LEFT JOIN item b2 ON b2.n = i.before2
      LEFT JOIN item b3 ON b3.n = i.before3
     ORDER BY i.n
"""
_LOOKUP = text(_LOOKUP_SQL.format(LEAF_CELL=LEAF_CELL, PREVIOUS_VISIT=PREVIOUS_VISIT))
_DISTANCE_M = text("""
    SELECT ST_Distance(ST_SetSRID(ST_MakePoint(:from_lon, :from_lat), 4326)::geography,
                       ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)
""")
# The free text (category, description) travels as text arrays beside the JSON rows: the
# driver refuses a NUL character in them with a message a phone user can act on. `reports` is
# partitioned by month (migration 0013): its id is claimed in `report_keys` first, unique
# across all months, and only the ids claimed here are inserted (one another request claimed
# is left as it is, even under another observed_at).
_INSERT_REPORTS = text("""
    WITH r AS MATERIALIZED (
        SELECT r.n, r.id, r.reporter_id, r.cell_id, r.geom, r.lat, r.lon, r.accuracy_m,
               r.observed_at, r.received_at, r.kind, t.category, t.description, r.source_id,
               r.flags, r.counted, r.body_hash, r.origin
          FROM json_to_recordset(CAST(:reports AS json))
               AS r(n bigint, id uuid, reporter_id bigint, cell_id bigint, geom text, lat float8,
                    lon float8, accuracy_m float8, observed_at timestamptz,
                    received_at timestamptz, kind text, source_id bigint, flags text[],
                    counted boolean, body_hash text, origin text)
          JOIN unnest(CAST(:categories AS text[]), CAST(:descriptions AS text[]))
               WITH ORDINALITY AS t(category, description, n) USING (n)
    ), claimed AS (
        INSERT INTO report_keys (id, observed_at)
        SELECT id, observed_at FROM r ORDER BY n
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    )
    INSERT INTO reports (id, reporter_id, cell_id, geom, lat, lon, accuracy_m, observed_at,
                         received_at, kind, category, description, source_id, flags, counted,
                         body_hash, origin)
    SELECT r.id, r.reporter_id, r.cell_id, ST_GeomFromEWKT(r.geom), r.lat, r.lon,
           r.accuracy_m, r.observed_at, r.received_at, r.kind, r.category, r.description,
           r.source_id, r.flags, r.counted, r.body_hash, r.origin
      FROM r JOIN claimed USING (id)
     ORDER BY r.n
    RETURNING id
""")


def ewkt(lon: float, lat: float) -> str:
    return f"SRID=4326;POINT({lon} {lat})"


def insert_reports(session: Session, reports: list[NewReport], origin: str) -> set[uuid.UUID]:
    """Insert new reports in one statement; the ids stored (another request may have stored
    one of them meanwhile: that one is left as it is)."""
    rows = [
        {
            "n": n,
            "id": str(r.id),
            "reporter_id": r.reporter_id,
            "cell_id": r.cell_id,
            "geom": ewkt(r.lon, r.lat),
            "lat": r.lat,
            "lon": r.lon,
            "accuracy_m": r.accuracy_m,
            "observed_at": r.observed_at.isoformat(),
            "received_at": r.received_at.isoformat(),
            "kind": r.kind,
            "source_id": r.source_id,
            "flags": r.flags,
            "counted": r.counted,
            "body_hash": r.body_hash,
            "origin": origin,
        }
        for n, r in enumerate(reports, 1)
    ]
    params = {
        "reports": json_param(rows),
        "categories": [r.category for r in reports],
        "descriptions": [r.description for r in reports],
    }
    return {row.id for row in session.execute(_INSERT_REPORTS, params)}


_BEFORES = ("before", "before2", "before3")


def lookup(
    session: Session,
    *,
    reporters: Sequence[int],
    ids: Sequence[uuid.UUID],
    points: Sequence[tuple[float, float] | None],
    times: Sequence[datetime],
    befores: Sequence[Sequence[int]],
) -> list[Row[Any]]:
    """One row per item, in order (see _LOOKUP); `reporters[k]` filed item k; `befores[k]` are
    up to three 0-based positions of earlier items, the latest first."""
    items = [
        {
            "n": n,
            "id": str(report_id),
            "person_id": person_id,
            "lon": point[0] if point else None,
            "lat": point[1] if point else None,
            "at": at.isoformat(),
        }
        | {name: position + 1 for name, position in zip(_BEFORES, earlier, strict=False)}
        for n, (person_id, report_id, point, at, earlier) in enumerate(
            zip(reporters, ids, points, times, befores, strict=True), 1
        )
    ]
    rows = session.execute(_LOOKUP, {"items": json_param(items)})
    return list(rows.all())


def distance_m(session: Session, start: tuple[float, float], end: tuple[float, float]) -> float:
    """Metres between two WGS-84 positions, as PostGIS measures the previous patrol's."""
    metres = session.execute(
        _DISTANCE_M, {"from_lon": start[0], "from_lat": start[1], "lon": end[0], "lat": end[1]}
    ).scalar_one()
    return float(metres)
