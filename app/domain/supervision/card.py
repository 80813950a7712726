"""The map's cell card (SPEC §6 test hooks `cell-card`, `cell-card-reports`,
`cell-card-dossier`): one unit cell at an instant — its gap reasons, last counted patrol and
roster then, and the evidence behind a red cell: its recent reports with their photos, its
open and recent cases, its lapses of the last 30 days and the dossier that holds them all.
Every list is limited by the viewer's scope (app/domain/people/scope.py); lapses and the
dossier only for those who may take accountability exports (SPEC §7)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.domain.hotspots import history, lifecycle
from app.domain.people.scope import Viewer, duty_active_at, visible, visible_cell
from app.domain.supervision.gaps import Selection, find_gaps
from app.domain.supervision.lapses import iter_lapses
from app.models import Cell, CellVisit, Duty, Hotspot, Person, Photo, Report

EVIDENCE_DAYS = 30  # the window of recent cases, lapses and the dossier
RECENT_REPORTS = 6
RECENT_CASES = 10


def cell_card(
    session: Session, viewer: Viewer, code: str, as_of: datetime | None, *, accountable: bool
) -> dict[str, Any]:
    """`accountable`: the viewer may take accountability exports (lapses, dossier)."""
    cell = visible_cell(session, viewer, code)
    result = find_gaps(session, Selection(None, [cell.id]), as_of)
    at = result.as_of
    since = at - timedelta(days=EVIDENCE_DAYS)
    found = result.cells[0] if result.cells else None
    last = session.scalar(
        select(func.max(CellVisit.observed_at)).where(
            CellVisit.cell_id == cell.id, CellVisit.observed_at <= at
        )
    )
    roster = session.execute(
        select(Duty.duty, Person.name, Person.phone, Person.username)
        .join(Person, Person.id == Duty.person_id)
        .where(Duty.cell_id == cell.id, duty_active_at(at))
        .order_by(Duty.duty, Person.username)
    ).all()
    cases = _cases(session, viewer, cell, at, since)
    return {
        "code": cell.code,
        "name": cell.name,
        "as_of": at.isoformat(),
        # the codes of the cells above it: the map closes the card when an area excludes it
        "ancestors": list(
            session.scalars(
                select(Cell.code).where(Cell.id.in_([int(i) for i in cell.path.split(".")[:-1]]))
            )
        ),
        "reasons": found.reasons if found else [],
        "last_patrol_at": last.isoformat() if last else None,
        "patrol_interval_hours": cell.patrol_interval_hours,
        "roster": [
            {"duty": r.duty, "name": r.name, "phone": r.phone, "username": r.username}
            for r in roster
        ],
        "hotspots": [c for c in cases if c["open"]],
        "cases": cases[:RECENT_CASES],
        "cases_total": len(cases),
        "reports": _reports(session, viewer, cell, at),
        "evidence_from": since.isoformat(),
        "lapses": _lapses(session, cell, since, at) if accountable else None,
        "dossier": _dossier(cell, since, at) if accountable and cell.is_leaf else None,
    }


def _cases(
    session: Session, viewer: Viewer, cell: Cell, at: datetime, since: datetime
) -> list[dict[str, Any]]:
    """The cell's cases open at `at`, then those created in the window before it, newest
    first; each with its status and deadline then."""
    status, deadline = history.status_at(at), history.deadline_at(at)
    rows = session.execute(
        select(Hotspot, status, deadline)
        .where(
            Hotspot.cell_id == cell.id,
            visible(viewer, Hotspot),
            or_(history.open_at(at), Hotspot.created_at.between(since, at)),
        )
        .order_by(Hotspot.created_at.desc())
    ).all()
    out = [
        {
            "id": str(h.id),
            "category": h.category,
            "source": h.source,
            "description": h.description,
            "found_at": h.found_at.isoformat(),
            "status": s,
            "open": s is not None and s not in lifecycle.FINISHED,
            "deadline": d.isoformat() if d else None,
            "overdue": history.is_overdue_then(s, d, at),
            "desk_url": f"/desk?case={h.id}",
        }
        for h, s, d in rows
    ]
    out.sort(key=lambda c: not c["open"])  # open first, each part newest first
    return out


def _reports(session: Session, viewer: Viewer, cell: Cell, at: datetime) -> list[dict[str, Any]]:
    """The newest reports filed in the cell up to `at`, with their photos (a display copy to
    show, the original one click away)."""
    rows = session.execute(
        select(Report, Person.name)
        .join(Person, Person.id == Report.reporter_id)
        .where(Report.cell_id == cell.id, Report.observed_at <= at, visible(viewer, Report))
        .order_by(Report.observed_at.desc())
        .limit(RECENT_REPORTS)
    ).all()
    photos: dict[Any, list[Any]] = {r.id: [] for r, _ in rows}
    if photos:
        for report_id, photo_id in session.execute(
            select(Photo.report_id, Photo.id)
            .where(Photo.report_id.in_(list(photos)))
            .order_by(Photo.uploaded_at)
        ):
            photos[report_id].append(photo_id)
    return [
        {
            "id": str(r.id),
            "kind": r.kind,
            "category": r.category,
            "description": r.description,
            "observed_at": r.observed_at.isoformat(),
            "reporter_name": name,
            "counted": r.counted,
            "flags": list(r.flags or []),
            "photos": [
                {
                    "display_url": f"/api/v1/reports/{r.id}/photos/{p}/display",
                    "url": f"/api/v1/reports/{r.id}/photos/{p}",
                }
                for p in photos[r.id]
            ],
        }
        for r, name in rows
    ]


def _lapses(session: Session, cell: Cell, since: datetime, at: datetime) -> list[dict[str, Any]]:
    return [
        {
            "lapse": x.lapse,
            "start": x.start.isoformat(),
            "end": x.end.isoformat(),
            "hours": x.hours,
            "responsible": [{"duty": p.duty, "name": p.name} for p in x.responsible],
        }
        for x in iter_lapses(session, Selection(None, [cell.id]), since, at)
    ]


def _dossier(cell: Cell, since: datetime, at: datetime) -> dict[str, Any]:
    """The cell's dossier over the evidence window: its lapses with who was responsible,
    every report with photos, its cases with their histories, the roster, a map and the
    audit entries — what a discipline officer needs to follow up a red cell."""
    query = urlencode({"from": since.isoformat(), "to": at.isoformat()})
    return {
        "url": f"/api/v1/exports/cells/{cell.code}.zip?{query}",
        "from": since.isoformat(),
        "to": at.isoformat(),
    }
