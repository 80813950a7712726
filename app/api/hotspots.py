"""Hotspots: create, step through the case lifecycle, list and read with history."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session, aliased

from app import clock
from app.api.deps import CurrentViewer
from app.api.params import Bbox, Instant, page_of, parse_bbox
from app.db import SessionDep
from app.domain.grid.cells import get_cell
from app.domain.hotspots import desk, history, lifecycle, listing
from app.domain.hotspots.cases import (
    Actor,
    HotspotData,
    Step,
    is_overdue,
)
from app.domain.hotspots.opening import create_hotspot
from app.domain.people.scope import Viewer, get_visible, visible
from app.models import Cell, Hotspot, HotspotEvent, Person
from app.models.base import LTree
from app.schemas.hotspots import EventOut, HotspotDetail, HotspotIn, HotspotOut, TransitionIn

router = APIRouter(prefix="/api/v1/hotspots", tags=["hotspots"])


def _username(session: Session, person_id: int | None) -> str | None:
    return session.get_one(Person, person_id).username if person_id else None


def hotspot_out(session: Session, h: Hotspot) -> HotspotOut:
    now = clock.now()
    cell = session.get(Cell, h.cell_id) if h.cell_id else None
    assignee = session.get(Person, h.assignee_id) if h.assignee_id else None
    return HotspotOut(
        id=h.id,
        cell_code=cell.code if cell else None,
        status=h.status,
        source=h.source,
        category=h.category,
        description=h.description,
        lat=h.lat,
        lon=h.lon,
        found_at=h.found_at,
        created_at=h.created_at,
        updated_at=h.updated_at,
        created_by=_username(session, h.created_by_id) or h.channel,
        assignee=assignee.username if assignee else None,
        assignee_name=assignee.name if assignee else None,
        deadline=h.deadline,
        overdue=is_overdue(h, now),
        extensions=h.extensions,
        reworks=h.reworks,
        reopens=h.reopens,
        missed_by_grid=h.missed_by_grid,
        report_id=h.report_id,
        evidence_report_id=h.evidence_report_id,
        closed_at=h.closed_at,
        allowed_steps=list(lifecycle.allowed_from(h.status)),
    )


def hotspot_detail(session: Session, h: Hotspot, viewer: Viewer | None = None) -> HotspotDetail:
    """The case with its history; for a reader, also the steps they may take now."""
    events = session.scalars(
        select(HotspotEvent).where(HotspotEvent.hotspot_id == h.id).order_by(HotspotEvent.id)
    ).all()
    history = [
        EventOut(
            at=e.at,
            actor=e.actor_label,
            action=e.action,
            from_status=e.from_status,
            to_status=e.to_status,
            note=e.note,
            assignee=_username(session, e.assignee_id),
            deadline=e.deadline,
            reason=e.reason,
            evidence_report_id=e.evidence_report_id,
        )
        for e in events
    ]
    allowed = desk.allowed_actions(session, viewer, h) if viewer is not None else None
    return HotspotDetail(
        **hotspot_out(session, h).model_dump(), history=history, allowed_actions=allowed
    )


@router.post("", status_code=201, responses={200: {"model": HotspotDetail}})
def post_hotspot(
    body: HotspotIn, session: SessionDep, viewer: CurrentViewer, response: Response
) -> HotspotDetail:
    data = HotspotData(
        id=body.id,
        lat=body.lat,
        lon=body.lon,
        crs=body.crs,
        category=body.category,
        description=body.description,
        source=body.source,
        found_at=body.found_at,
        report_id=body.report_id,
    )
    hotspot, created = create_hotspot(
        session, actor=Actor(label=viewer.username, viewer=viewer), data=data
    )
    session.commit()
    response.status_code = 201 if created else 200
    return hotspot_detail(session, hotspot, viewer)


@router.post("/{hotspot_id}/transitions")
def post_transition(
    hotspot_id: uuid.UUID, body: TransitionIn, session: SessionDep, viewer: CurrentViewer
) -> HotspotDetail:
    """One step of the case (SPEC §4). An illegal step answers 409 naming the current status
    and the allowed steps, and changes nothing; so does a step on a case that has moved on
    since the client saw it (`from`, `if_unchanged_since`)."""
    step = Step(
        to=body.to,
        note=body.note,
        assignee=body.assignee,
        deadline=body.deadline,
        reason=body.reason,
        evidence_report_id=body.evidence_report_id,
    )
    hotspot = desk.take_step(
        session,
        viewer=viewer,
        hotspot_id=hotspot_id,
        step=step,
        seen_status=body.seen_status,
        seen_updated_at=body.if_unchanged_since,
    )
    session.commit()
    return hotspot_detail(session, hotspot, viewer)


@router.get("")
def list_hotspots(
    session: SessionDep,
    viewer: CurrentViewer,
    within: Annotated[str | None, Query(description="a cell code: only its subtree")] = None,
    status: Annotated[list[str] | None, Query()] = None,
    source: Annotated[list[str] | None, Query()] = None,
    overdue: bool | None = None,
    open: Annotated[bool | None, Query(description="true: not closed or rejected")] = None,
    bbox: Bbox = None,
    due_within_hours: Annotated[
        int | None, Query(ge=1, le=24 * 90, description="a running deadline within N hours")
    ] = None,
    assignee: Annotated[str | None, Query(max_length=64, description="a username, or `me`")] = None,
    found_from: Annotated[Instant | None, Query(description="found at or after")] = None,
    found_to: Annotated[Instant | None, Query(description="found before")] = None,
    sort: Annotated[
        Literal[listing.SORT_CHOICES] | None,  # type: ignore[valid-type]
        Query(description="found_at, created_at, updated_at, deadline or status; -KEY: desc"),
    ] = None,
    counts: Annotated[
        bool, Query(description="also the total and the count per status of what matches")
    ] = False,
    as_of: Annotated[
        Instant | None,
        Query(
            description="the cases as they stood at this instant: `open` and `overdue` are "
            "read from each case's history then, and each case carries `at` (its status, "
            "deadline and overdue then)"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    now = clock.now()
    conditions = [visible(viewer, Hotspot)]
    case_filter = listing.CaseFilter(
        due_within_hours=due_within_hours,
        assignee=viewer.username if assignee == "me" else assignee,
        found_from=found_from,
        found_to=found_to,
    )
    conditions += listing.conditions(session, case_filter, now)
    if within is not None:
        root = get_cell(session, within)
        sub = aliased(Cell)
        conditions.append(
            Hotspot.cell_id.in_(select(sub.id).where(sub.path.op("<@")(literal(root.path, LTree))))
        )
    box = parse_bbox(bbox)
    if box is not None:
        conditions.append(Hotspot.geom.intersects(func.ST_MakeEnvelope(*box, 4326)))
    if source:
        conditions.append(Hotspot.source.in_(source))
    if as_of is not None:  # the past (or a later instant): from each case's event log
        conditions.append(Hotspot.created_at <= as_of)
        overdue_then, open_then = history.overdue_at(as_of), history.open_at(as_of)
    else:
        overdue_then = listing.overdue_condition(now)
        open_then = Hotspot.status.not_in(lifecycle.FINISHED)
    if overdue is not None:
        conditions.append(overdue_then if overdue else ~overdue_then)
    if open is not None:
        conditions.append(open_then if open else ~open_then)
    by_status = [Hotspot.status.in_(status)] if status else []
    rows, next_offset = page_of(
        session,
        listing.ordered(select(Hotspot).where(*conditions, *by_status), sort),
        limit,
        offset,
    )
    items = [hotspot_out(session, h).model_dump(mode="json") for h in rows]
    if as_of is not None:
        then = history.states_at(session, [h.id for h in rows], as_of)
        for item, h in zip(items, rows, strict=True):
            status_then, deadline_then = then[h.id]
            item["at"] = {
                "as_of": as_of.isoformat(),
                "status": status_then,
                "deadline": deadline_then.isoformat() if deadline_then else None,
                "overdue": history.is_overdue_then(status_then, deadline_then, as_of),
            }
    answer: dict[str, Any] = {
        "hotspots": items,
        "offset": offset,
        "limit": limit,
        "next_offset": next_offset,
    }
    if counts:  # per status regardless of the status filter: the desk's tabs
        per_status = listing.status_counts(session, conditions)
        answer["counts"] = per_status
        answer["total"] = sum(n for s, n in per_status.items() if not status or s in status)
    return answer


@router.get("/{hotspot_id}")
def get_one(hotspot_id: uuid.UUID, session: SessionDep, viewer: CurrentViewer) -> HotspotDetail:
    return hotspot_detail(session, get_visible(session, viewer, Hotspot, hotspot_id), viewer)
