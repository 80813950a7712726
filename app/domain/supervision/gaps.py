"""Gaps (SPEC §5): which leaf cells are unpatrolled, never patrolled, unstaffed, or hold open,
overdue or missed hotspots or uninspected sources — at any instant, for a subtree. The rules
live in app/sql/gaps_base.sql, with their values from app/rules.py as parameters; this module
runs them and shapes the answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
from sqlalchemy import select, text
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


COUNTS = ("leaf_cells", "without_gaps", *REASONS, "patrolled")


_PAGE_LEAVES = text("""
    SELECT id, code FROM cells c
     WHERE c.is_leaf
       AND (CAST(:root_path AS ltree) IS NULL OR c.path <@ CAST(:root_path AS ltree))
       AND (CAST(:cell_ids AS bigint[]) IS NULL OR c.id = ANY (CAST(:cell_ids AS bigint[])))
       AND (CAST(:after AS text) IS NULL OR c.code > CAST(:after AS text))
     ORDER BY c.code
     LIMIT :n
""")
PAGE_SCAN = 512  # leaves evaluated per step while filling a page


def gaps_page(
    session: Session,
    selection: Selection,
    limit: int,
    after: str | None = None,
    as_of: datetime | None = None,
    reason: str | None = None,
) -> bytes:
    """One page of the /api/v1/gaps answer: the first `limit` gap cells by code after the
    code `after`, the summary over the whole selection (now: from the per-parent roll-up)
    and `next`, the cursor for the following page (null on the last). Only the leaves up to
    the page's end are evaluated."""
    if reason is not None and reason not in REASONS:
        raise DomainError(f"reason must be one of {', '.join(REASONS)}")
    t, current = instant_and_mode(session, as_of)
    cells: list[dict[str, Any]] = []
    cursor, more = after, True
    while more and len(cells) < limit:
        n = max(PAGE_SCAN, limit - len(cells))
        params = selection.params() | {"after": cursor, "n": n}
        leaves = session.execute(_PAGE_LEAVES, params).all()
        more = len(leaves) == n
        if not leaves:
            break
        cursor = leaves[-1].code
        page = Selection(selection.root_path, [leaf.id for leaf in leaves])
        document = session.scalar(
            load("gaps_json"),
            gap_params(page, t, current) | {"reason": reason, "as_of": t.isoformat()},
        )
        assert document is not None
        cells += json.loads(document)["cells"]
    if len(cells) > limit:
        cells, more = cells[:limit], True
    if more and cells:
        cursor = cells[-1]["code"]
    answer = {
        "as_of": t.isoformat(),
        "cells": cells,
        "summary": gap_summary(session, selection, t, current),
        "next": cursor if more else None,
    }
    return orjson.dumps(answer)


def gap_summary(
    session: Session, selection: Selection, t: datetime, current: bool
) -> dict[str, Any]:
    """The gap answers' `summary` over every selected leaf (gaps_summary.sql's), from the
    area counts: now, the per-parent roll-up answers it."""
    idx = len(selection.root_path.split(".")) - 1 if selection.root_path else 0
    total = dict.fromkeys(COUNTS, 0)
    for counts in area_counts(session, selection, t, current, idx, shallow=True).values():
        for name in COUNTS:
            total[name] += counts[name]
    return {
        "leaf_cells": total["leaf_cells"],
        "cells_with_gaps": total["leaf_cells"] - total["without_gaps"],
        **{name: total[name] for name in REASONS},
        "patrolled_share": share(total["patrolled"], total["leaf_cells"]),
    }


def area_counts(
    session: Session, selection: Selection, t: datetime, current: bool, idx: int, shallow: bool
) -> dict[int, dict[str, int]]:
    """Gap counts (COUNTS) per area at T: the ancestor at path position idx of each selected
    leaf (with `shallow`, a leaf above that depth stands for itself; without, it is left out).
    Now, from the per-parent roll-up (app/sql/rollup_now.sql: a few rows per district) for
    the parents it answers for, and the usual way for the leaves of the others; in the past,
    or for explicit cells or a box, the usual way (app/sql/area_counts.sql) alone."""
    areas: dict[int, dict[str, int]] = {}
    slow = selection
    if current and selection.cell_ids is None and selection.bbox is None:
        fast = session.execute(
            load("rollup_now"),
            {"root_path": selection.root_path, "under": selection.under, "idx": idx, "t": t},
        ).one()
        found = json.loads(fast.areas) if isinstance(fast.areas, str) else fast.areas
        areas = {a.pop("id"): a for a in found}
        if not fast.slow:
            return {k: v for k, v in areas.items() if v["leaf_cells"]}
        slow = Selection(selection.root_path, list(fast.slow), selection.under)
    params = gap_params(slow, t, current) | {"idx": idx, "shallow": shallow}
    for row in session.execute(load("area_counts"), params):
        counts = row._asdict()
        area = areas.setdefault(counts.pop("id"), dict.fromkeys(COUNTS, 0))
        for name in COUNTS:
            area[name] += counts[name]
    return {k: v for k, v in areas.items() if v["leaf_cells"]}


def share(part: int, whole: int) -> float:
    """part / whole rounded half away from zero to 4 places, as PostgreSQL's round does."""
    if not whole:
        return 0.0
    return float((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


_AREAS = text("""
    SELECT id, code, name, level FROM cells WHERE id = ANY (CAST(:ids AS bigint[])) ORDER BY code
""")


def rollup(
    session: Session, selection: Selection, as_of: datetime | None = None, depth: int = 1
) -> list[dict[str, Any]]:
    """Counts per ancestor `depth` levels below the selection's root (or the tree's roots)."""
    if not 1 <= depth <= 10:
        raise DomainError("depth must be between 1 and 10")
    t, current = instant_and_mode(session, as_of)
    base = len(selection.root_path.split(".")) if selection.root_path else 0
    areas = area_counts(session, selection, t, current, base + depth - 1, shallow=False)
    out = []
    for a in session.execute(_AREAS, {"ids": list(areas)}):
        counts = areas[a.id]
        out.append(
            {"code": a.code, "name": a.name, "level": a.level}
            | {name: counts[name] for name in COUNTS if name != "patrolled"}
            | {"patrolled_share": share(counts["patrolled"], counts["leaf_cells"])}
        )
    return out
