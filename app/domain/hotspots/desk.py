"""The command office's case desk (SPEC §6 `GET /desk`): what a reader may do with a case now,
a step taken only on the state the reader saw, and the case file the desk shows (the spot and
its cell, the roster when it was found, the photos of the report and of the evidence).

Allowed actions are asked of the very check the transitions endpoint enforces
(cases.check_permission), so the desk never offers a step the server would refuse for who
the reader is — nor hides one it would take.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.errors import Conflict, Forbidden
from app.domain.hotspots import lifecycle
from app.domain.hotspots import rules as case_rules
from app.domain.hotspots.cases import (
    Step,
    apply_step,
    check_permission,
)
from app.domain.people.scope import (
    Viewer,
    can_see,
    duty_active_at,
    get_visible,
    oversees,
)
from app.models import Cell, Duty, Hotspot, HotspotEvent, Person, Photo, Report

# Who opens the desk (SPEC §7): the command office, supervisors and admins act on cases in
# scope; a leader on its own cells' cases; discipline reads only.
DESK_ROLES = ("command", "supervisor", "admin", "leader", "discipline")


class StaleStep(Conflict):
    """The case moved on since the reader saw it: their step would overwrite someone's."""


def allowed_actions(session: Session, viewer: Viewer, hotspot: Hotspot) -> list[str]:
    """The steps this reader may take on this case now (each a `to` of the transitions
    endpoint, `extend` included), in the lifecycle's order."""
    allowed = []
    for to in lifecycle.allowed_from(hotspot.status):
        try:
            check_permission(session, viewer, hotspot, to)
        except Forbidden:
            continue
        allowed.append(to)
    return allowed


def take_step(
    session: Session,
    *,
    viewer: Viewer,
    hotspot_id: uuid.UUID,
    step: Step,
    seen_status: str | None = None,
    seen_updated_at: datetime | None = None,
) -> Hotspot:
    """One step, taken only if the case is as the reader saw it: its status (`from`) and,
    when given, the time of its last change (a second extension of the same deadline, or a
    re-dispatch, leaves the status as it was). A mismatch is StaleStep (409) naming the case's
    state now; nothing changes."""
    if seen_status is not None or seen_updated_at is not None:
        # held until the step is done
        hotspot = get_visible(session, viewer, Hotspot, hotspot_id, lock=True)
        if seen_status is not None and hotspot.status != seen_status:
            raise StaleStep(
                f"from: the case is now {hotspot.status!r}, not {seen_status!r} — someone "
                "acted on it meanwhile; reload it and decide again"
            )
        if seen_updated_at is not None and hotspot.updated_at != seen_updated_at:
            raise StaleStep(
                "if_unchanged_since: the case changed at "
                f"{hotspot.updated_at.isoformat()} — someone acted on it meanwhile; reload it "
                "and decide again"
            )
    return apply_step(session, viewer=viewer, hotspot_id=hotspot_id, step=step)


def assignees(session: Session, viewer: Viewer, hotspot: Hotspot, at: datetime) -> list[dict]:
    """Who this case may be dispatched to now (rules.assignable: the dispatch check's own
    rule), each with their duty in the case's cell if they hold one, on-duty people first."""
    if not oversees(session, viewer, hotspot.cell_id):
        raise Forbidden("only those who may dispatch this case see who it may go to")
    people = case_rules.eligible_assignees(session, hotspot.cell_id, at)
    duties: dict[int, list[str]] = {}
    if hotspot.cell_id is not None and people:
        for person_id, duty in session.execute(
            select(Duty.person_id, Duty.duty)
            .where(
                Duty.cell_id == hotspot.cell_id,
                Duty.person_id.in_([p.id for p in people]),
                duty_active_at(at),
            )
            .order_by(Duty.duty)
        ):
            duties.setdefault(person_id, []).append(duty)
    rank = {"leader": 0, "member": 1, "patroller": 2, "supervisor": 3}
    people.sort(key=lambda p: (min((rank[d] for d in duties.get(p.id, [])), default=9), p.username))
    return [
        {
            "username": p.username,
            "name": p.name,
            "phone": p.phone,
            "role": p.role,
            "duties": duties.get(p.id, []),
        }
        for p in people
    ]


def _photos(session: Session, report_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict]]:
    photos: dict[uuid.UUID, list[dict]] = {}
    for report_id, photo_id in session.execute(
        select(Photo.report_id, Photo.id)
        .where(Photo.report_id.in_(report_ids))
        .order_by(Photo.uploaded_at, Photo.id)
    ):
        base = f"/api/v1/reports/{report_id}/photos/{photo_id}"
        photos.setdefault(report_id, []).append(
            {"id": str(photo_id), "url": base, "display_url": f"{base}/display"}
        )
    return photos


def _reports(session: Session, viewer: Viewer, hotspot: Hotspot) -> list[dict]:
    """The report that found the case and every report given as evidence, those the reader
    may see, with their flags (a voided report is shown as such at triage) and photos."""
    wanted: list[tuple[uuid.UUID, str]] = []
    if hotspot.report_id is not None:
        wanted.append((hotspot.report_id, "finding"))
    for (evidence_id,) in session.execute(
        select(HotspotEvent.evidence_report_id)
        .where(HotspotEvent.hotspot_id == hotspot.id, HotspotEvent.evidence_report_id.is_not(None))
        .order_by(HotspotEvent.id)
    ):
        if evidence_id is not None and evidence_id not in [w[0] for w in wanted]:
            wanted.append((evidence_id, "evidence"))
    if not wanted:
        return []
    found = {
        r.id: (r, username)
        for r, username in session.execute(
            select(Report, Person.username)
            .join(Person, Person.id == Report.reporter_id)
            .where(Report.id.in_([w[0] for w in wanted]))
        )
        if can_see(session, viewer, Report, r.id)
    }
    photos = _photos(session, list(found))
    out = []
    for report_id, role in wanted:
        if report_id not in found:
            continue
        r, username = found[report_id]
        out.append(
            {
                "id": str(r.id),
                "role": role,
                "kind": r.kind,
                "reporter": username,
                "observed_at": r.observed_at.isoformat(),
                "received_at": r.received_at.isoformat(),
                "description": r.description,
                "flags": r.flags,
                "counted": r.counted,
                "review_status": r.review_status,
                "photos": photos.get(r.id, []),
            }
        )
    return out


def _cell(session: Session, viewer: Viewer, hotspot: Hotspot) -> dict[str, Any] | None:
    """The case's cell with its street and district and its outline (GeoJSON) — to a reader
    who may see the cell; otherwise its code only (the case names it anyway)."""
    if hotspot.cell_id is None:
        return None
    cell = session.get_one(Cell, hotspot.cell_id)
    if not can_see(session, viewer, Cell, cell.id):
        return {"code": cell.code}
    ancestors = session.execute(
        select(Cell.level, Cell.name)
        .where(Cell.path.op("@>")(cell.path), Cell.id != cell.id)
        .order_by(Cell.level)
    ).all()
    geometry = session.scalar(select(func.ST_AsGeoJSON(Cell.geom, 7)).where(Cell.id == cell.id))
    return {
        "code": cell.code,
        "name": cell.name,
        "ancestors": [name for _, name in ancestors],
        "geometry": json.loads(geometry) if geometry else None,
    }


def _roster(session: Session, cell_id: int, at: datetime) -> list[dict]:
    rows = session.execute(
        select(Duty.duty, Person.username, Person.name, Person.phone)
        .join(Person, Person.id == Duty.person_id)
        .where(Duty.cell_id == cell_id, duty_active_at(at))
        .order_by(Duty.duty, Person.username)
    ).all()
    return [dict(r._mapping) for r in rows]


def _names(session: Session, hotspot: Hotspot) -> dict[str, str]:
    """Username → name of everyone the timeline names (actors and assignees)."""
    ids = (
        select(HotspotEvent.actor_id)
        .where(HotspotEvent.hotspot_id == hotspot.id)
        .union(select(HotspotEvent.assignee_id).where(HotspotEvent.hotspot_id == hotspot.id))
    )
    return dict(
        session.execute(select(Person.username, Person.name).where(Person.id.in_(ids))).all()
    )


def case_file(session: Session, viewer: Viewer, hotspot: Hotspot) -> dict[str, Any]:
    """What the desk shows beside a case's steps: the cell (with its outline, for the map),
    the roster on duty when the case was found, and the reports with their photos."""
    cell = _cell(session, viewer, hotspot)
    sees_cell = cell is not None and "name" in cell
    assignee = session.get(Person, hotspot.assignee_id) if hotspot.assignee_id else None
    return {
        "id": str(hotspot.id),
        "cell": cell,
        "roster_found_at": hotspot.found_at.isoformat(),
        "roster": _roster(session, hotspot.cell_id, hotspot.found_at)
        if sees_cell and hotspot.cell_id is not None
        else None,
        "assignee": None
        if assignee is None
        else {
            "username": assignee.username,
            "name": assignee.name,
            "phone": assignee.phone if sees_cell else None,  # as the cell's roster shows it
        },
        "reports": _reports(session, viewer, hotspot),
        "names": _names(session, hotspot),
    }
