"""Writing cells into the tree and finding cells: shared by imports, grid generation, the demo
seed and the API, so the rules (codes never reused, smallest code wins on a shared edge) live
in one place."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain import audit
from app.domain.errors import NotFound
from app.domain.progress import NoProgress, Progress
from app.models import Cell

CHUNK = 2000
DEFAULT_RISK = "medium"  # a leaf cell whose risk is not given (SPEC §2)


@dataclass
class NewCell:
    code: str
    name: str
    level: int | None  # None: parent's level + 1, or 1 for a root
    parent_code: str | None
    geom: MultiPolygon  # WGS-84
    risk: str | None = DEFAULT_RISK  # None: not given (a new cell gets the default, a
    # stored cell keeps its risk and patrol interval)
    patrol_interval_hours: int | None = None  # None: the default for the risk


def existing_cells(session: Session, codes: Iterable[str]) -> dict[str, Cell]:
    codes = list(set(codes))
    found: dict[str, Cell] = {}
    for i in range(0, len(codes), 10_000):
        for cell in session.scalars(select(Cell).where(Cell.code.in_(codes[i : i + 10_000]))):
            found[cell.code] = cell
    return found


def _depth_order(cells: Sequence[NewCell]) -> list[list[NewCell]]:
    """Group cells so that every parent in the batch is written before its children.
    Callers have rejected parent cycles already."""
    by_code = {c.code: c for c in cells}
    depth: dict[str, int] = {}

    def depth_of(code: str) -> int:
        if code not in depth:
            parent = by_code[code].parent_code
            depth[code] = depth_of(parent) + 1 if parent in by_code else 0
        return depth[code]

    groups: dict[int, list[NewCell]] = {}
    for c in cells:
        groups.setdefault(depth_of(c.code), []).append(c)
    return [groups[d] for d in sorted(groups)]


def write_cells(
    session: Session, cells: Sequence[NewCell], progress: Progress | None = None
) -> tuple[int, int]:
    """Insert new cells and update existing ones (same code), parents first.

    Callers validate first (parents exist, codes unique, no retired code reused); this runs
    inside the caller's transaction, so a failure leaves nothing behind. Returns
    (inserted, updated)."""
    settings = get_settings()
    progress = progress or NoProgress()
    progress.start("writing cells", len(cells))
    existing = existing_cells(
        session, [c.code for c in cells] + [c.parent_code for c in cells if c.parent_code]
    )
    ids = {code: cell.id for code, cell in existing.items()}
    levels = {code: cell.level for code, cell in existing.items()}
    inserted = updated = 0
    for group in _depth_order(cells):
        new_rows: list[dict[str, Any]] = []
        changed_rows: list[dict[str, Any]] = []
        for c in group:
            parent_id = ids[c.parent_code] if c.parent_code else None
            level = c.level or (levels[c.parent_code] + 1 if c.parent_code else 1)
            levels[c.code] = level
            row: dict[str, Any] = {
                "code": c.code,
                "name": c.name,
                "level": level,
                "parent_id": parent_id,
                "geom": from_shape(c.geom, srid=4326),
            }
            if c.risk is not None or c.code not in existing:
                risk = c.risk or DEFAULT_RISK
                row["risk"] = risk
                row["patrol_interval_hours"] = (
                    c.patrol_interval_hours or settings.patrol_interval_for(risk)
                )
            elif c.patrol_interval_hours:
                row["patrol_interval_hours"] = c.patrol_interval_hours
            (changed_rows if c.code in existing else new_rows).append(row)
        for i in range(0, len(new_rows), CHUNK):
            chunk = new_rows[i : i + CHUNK]
            result = session.execute(insert(Cell).returning(Cell.id, Cell.code), chunk)
            for cell_id, code in result:
                ids[code] = cell_id
            inserted += len(chunk)
            progress.advance(len(chunk))
        codes = [str(row["code"]) for row in changed_rows]
        before = _cell_facts(session, codes)
        for row in changed_rows:
            session.execute(
                update(Cell)
                .where(Cell.code == row["code"])
                .values({k: v for k, v in row.items() if k != "code"})
            )
            updated += 1
            progress.advance()
        after = _cell_facts(session, codes)
        for code in codes:
            audit.record(
                session,
                "cell.update",
                "cell",
                code,
                cell_id=ids[code],
                before=before[code],
                after=after[code],
            )
    return inserted, updated


def _cell_facts(session: Session, codes: list[str]) -> dict[str, dict[str, Any]]:
    """What the audit log keeps of each cell: its attributes and its shape's hash and area
    (read in chunks: a province re-import changes many cells at once)."""
    facts: dict[str, dict[str, Any]] = {}
    for i in range(0, len(codes), CHUNK):
        rows = session.execute(
            select(
                Cell.code,
                Cell.name,
                Cell.level,
                Cell.parent_id,
                Cell.risk,
                Cell.patrol_interval_hours,
                func.encode(func.sha256(func.ST_AsBinary(Cell.geom)), "hex").label("geom_sha256"),
                func.round(func.ST_Area(func.Geography(Cell.geom))).label("area_m2"),
            ).where(Cell.code.in_(codes[i : i + CHUNK]))
        )
        for row in rows:
            code, *_ = row
            facts[code] = {k: v for k, v in row._mapping.items() if k != "code"}
    return facts


def get_cell(session: Session, code: str) -> Cell:
    cell = session.scalar(select(Cell).where(Cell.code == code))
    if cell is None:
        raise NotFound(f"no cell with code {code!r}")
    return cell


# A point on an edge shared by two leaf cells belongs to exactly one: the smallest code
# (SPEC §2). ST_Covers (not ST_Contains) so that boundary points are found at all; holes are
# outside the polygon, so a point in a hole is in no cell.
_LEAF_AT_POINT = text("""
    SELECT id, code FROM cells
     WHERE is_leaf
       AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
       AND (valid_from IS NULL OR valid_from <= :at)
       AND (valid_to IS NULL OR valid_to > :at)
     ORDER BY code
     LIMIT 1
""")


def leaf_cell_at(session: Session, lon: float, lat: float, at: datetime) -> tuple[int, str] | None:
    row = session.execute(_LEAF_AT_POINT, {"lon": lon, "lat": lat, "at": at}).first()
    return (int(row[0]), str(row[1])) if row else None
