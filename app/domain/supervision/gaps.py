"""Gaps (SPEC §5): which leaf cells are unpatrolled, never patrolled, unstaffed, or hold open,
overdue or missed hotspots or uninspected sources — at any instant, for a subtree. The rules
live in app/sql/gaps_base.sql, with their values from app/rules.py as parameters; this module
runs them and shapes the answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock, rules
from app.domain.errors import DomainError, NotFound
from app.domain.grid.cells import get_cell
from app.domain.people.scope import DUTY_ROLES, Viewer, duty_active_at, sees_everything
from app.models import Cell, Duty
from app.sql import load

REASONS = (
    "never_patrolled",
    "unpatrolled",
    "open_hotspot",
    "overdue_hotspot",
    "unstaffed",
    "uninspected_source",
    "missed_problem",
)


@dataclass(frozen=True)
class Selection:
    """Which leaf cells a question is about: a subtree (ltree path) and/or explicit ids."""

    root_path: str | None
    cell_ids: list[int] | None
    under: list[str] | None = None  # only leaves under any of these paths (map tiles)
    bbox: str | None = None  # only leaves meeting this EWKT box (map tiles)

    def params(self) -> dict[str, Any]:
        return {
            "root_path": self.root_path,
            "cell_ids": self.cell_ids,
            "under": self.under,
            "bbox": self.bbox,
        }


@dataclass
class GapCell:
    id: int
    code: str
    name: str
    reasons: list[str]
    last_patrol_at: datetime | None
    patrol_interval_hours: int
    open_hotspots: int
    overdue_hotspots: int
    uninspected_sources: int
    missed_problems: int


@dataclass
class Gaps:
    as_of: datetime
    cells: list[GapCell]
    summary: dict[str, Any]


def selection_for(session: Session, viewer: Viewer, within: str | None) -> Selection:
    """The viewer's scope (SPEC §7) intersected with `within`."""
    root = get_cell(session, within) if within else None
    if sees_everything(viewer):
        return Selection(root.path if root else None, None)
    if viewer.role in DUTY_ROLES:
        ids = list(
            session.scalars(
                select(Duty.cell_id).where(
                    Duty.person_id == viewer.person_id, duty_active_at(clock.now())
                )
            )
        )
        return Selection(root.path if root else None, ids)
    scope = session.get_one(Cell, viewer.scope_cell_id)
    if root is None or _under(root.path, scope.path):
        return Selection((root or scope).path, None)
    if _under(scope.path, root.path):
        return Selection(scope.path, None)
    # Out of scope answers as a missing code would, so codes cannot be probed.
    raise NotFound(f"no cell with code {within!r}")


def _under(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor + ".")


def gap_params(selection: Selection, t: datetime, current: bool) -> dict[str, Any]:
    """The parameters of every query built on gaps_base.sql: the cells, the instant, whether
    the summaries answer for it, and the rule values."""
    return {**selection.params(), **rules.params(), "t": t, "current": current}


def instant_and_mode(session: Session, as_of: datetime | None) -> tuple[datetime, bool]:
    """(T, whether the maintained summaries answer for T: T is now or later)."""
    now = clock.now()
    if as_of is None:
        return now, True
    if as_of.tzinfo is None:
        raise DomainError("as_of needs a time-zone offset")
    return as_of, as_of >= now


def find_gaps(
    session: Session, selection: Selection, as_of: datetime | None = None, reason: str | None = None
) -> Gaps:
    if reason is not None and reason not in REASONS:
        raise DomainError(f"reason must be one of {', '.join(REASONS)}")
    t, current = instant_and_mode(session, as_of)
    rows = session.execute(
        load("gaps_cells"), gap_params(selection, t, current) | {"reason": reason}
    ).all()
    summary = rows[0].summary if rows else {}
    if isinstance(summary, str):
        summary = json.loads(summary)
    cells = [
        GapCell(
            id=r.id,
            code=r.code,
            name=r.name,
            reasons=list(r.reasons),
            last_patrol_at=r.last_patrol_at,
            patrol_interval_hours=r.interval_hours,
            open_hotspots=r.open_hotspots,
            overdue_hotspots=r.overdue_hotspots,
            uninspected_sources=r.uninspected_sources,
            missed_problems=r.missed_problems,
        )
        for r in rows
        if r.code is not None
    ]
    return Gaps(as_of=t, cells=cells, summary=summary)


def gaps_document(
    session: Session, selection: Selection, as_of: datetime | None = None, reason: str | None = None
) -> bytes:
    """The /api/v1/gaps JSON answer (as_of, cells, summary) built by the database in one
    statement: for a whole province this avoids turning tens of thousands of rows into Python
    objects and back. Same content as `find_gaps`."""
    if reason is not None and reason not in REASONS:
        raise DomainError(f"reason must be one of {', '.join(REASONS)}")
    t, current = instant_and_mode(session, as_of)
    document = session.scalar(
        load("gaps_json"),
        gap_params(selection, t, current) | {"reason": reason, "as_of": t.isoformat()},
    )
    assert document is not None
    return document.encode()


def rollup(
    session: Session, selection: Selection, as_of: datetime | None = None, depth: int = 1
) -> list[dict[str, Any]]:
    """Counts per ancestor `depth` levels below the selection's root (or the tree's roots)."""
    if not 1 <= depth <= 10:
        raise DomainError("depth must be between 1 and 10")
    t, current = instant_and_mode(session, as_of)
    base = len(selection.root_path.split(".")) if selection.root_path else 0
    rows = session.execute(
        load("gaps_rollup"),
        gap_params(selection, t, current) | {"idx": base + depth - 1},
    ).all()
    return [{**r._asdict(), "patrolled_share": float(r.patrolled_share or 0)} for r in rows]
