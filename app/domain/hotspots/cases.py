"""Hotspots: creation (with the missed-by-the-grid check) and every step of the case, with
permissions (SPEC §4, §7). The state machine itself is in lifecycle.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, text
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.domain import audit
from app.domain.errors import Conflict, DomainError, Forbidden, NotFound
from app.domain.grid.cells import leaf_cell_at
from app.domain.grid.crs import point_to_wgs84
from app.domain.hotspots import lifecycle
from app.domain.hotspots import rules as case_rules
from app.domain.people.accounts import get_person
from app.domain.people.scope import (
    Viewer,
    can_see_cell,
    can_see_report,
    oversees,
    sees_everything,
)
from app.domain.reports.intake import fingerprint
from app.domain.status import refresh_hotspot_counts
from app.models import Hotspot, HotspotEvent, Photo, Report
from app.models.hotspots import SOURCES

MISSABLE = ("inspection", "complaint", "fire_point")


@dataclass(frozen=True)
class HotspotData:
    lat: float
    lon: float
    category: str
    description: str
    source: str
    id: uuid.UUID | None = None
    crs: str = "wgs84"
    found_at: datetime | None = None
    report_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in person, or an external channel (Open311) with no person."""

    label: str
    viewer: Viewer | None = None

    @property
    def person_id(self) -> int | None:
        return self.viewer.person_id if self.viewer else None


@dataclass(frozen=True)
class Step:
    to: str
    note: str | None = None
    assignee: str | None = None
    deadline: datetime | None = None
    reason: str | None = None
    evidence_report_id: uuid.UUID | None = None


_SEEN_BY_GRID = text("""
    SELECT EXISTS (
      SELECT 1 FROM reports r
       WHERE r.cell_id = :cell_id AND r.kind = 'issue' AND r.counted
         AND r.observed_at <= :found_at AND r.observed_at >= :since
         AND ST_DWithin(r.geom::geography,
                        ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :radius))
""")


def seen_by_grid(
    session: Session, cell_id: int, lon: float, lat: float, found_at: datetime
) -> bool:
    """Did a counted `issue` report of this cell, within 200 m and the 7 days before, see it?"""
    settings = get_settings()
    return bool(
        session.scalar(
            _SEEN_BY_GRID,
            {
                "cell_id": cell_id,
                "lon": lon,
                "lat": lat,
                "found_at": found_at,
                "since": found_at - timedelta(days=settings.missed_days),
                "radius": settings.missed_radius_m,
            },
        )
    )


def create_hotspot(
    session: Session,
    *,
    actor: Actor,
    data: HotspotData,
    channel: str | None = None,
    contact: dict[str, str] | None = None,
) -> tuple[Hotspot, bool]:
    """Returns (hotspot, created). An identical re-send with the same id returns the stored
    hotspot; a different body under that id is a Conflict. Who may open which case where:
    app/domain/hotspots/rules.py."""
    now = clock.now()
    hotspot_id = data.id or uuid.uuid4()
    digest = fingerprint(
        {
            "lat": data.lat,
            "lon": data.lon,
            "crs": data.crs,
            "category": data.category,
            "description": data.description,
            "source": data.source,
            "found_at": data.found_at.timestamp() if data.found_at else None,
            "report_id": str(data.report_id) if data.report_id else None,
        }
    )
    existing = session.get(Hotspot, hotspot_id)
    if existing is not None:
        if actor.viewer is not None and not can_see_hotspot(session, actor.viewer, existing):
            raise Conflict(f"hotspot id {hotspot_id} is taken; choose another")
        if existing.body_hash != digest:
            raise Conflict(f"hotspot {hotspot_id} already exists with a different body")
        return existing, False
    if data.source not in SOURCES:
        raise DomainError(f"source must be one of {', '.join(SOURCES)}, got {data.source!r}")
    viewer = actor.viewer
    case_rules.check_source_role(viewer, data.source)
    lon, lat = data.lon, data.lat
    if data.crs != "wgs84":
        lon, lat = point_to_wgs84(lon, lat, data.crs)
    report = None
    if data.report_id is not None:
        report = session.get(Report, data.report_id)
        if report is None or viewer is None or not can_see_report(session, viewer, report):
            raise NotFound(f"report_id: no report with id {data.report_id}")
    if data.source == case_rules.PATROL:
        report = case_rules.check_patrol_report(viewer, report)
    found_at = case_rules.found_at_for(data.found_at, report, now)
    found = leaf_cell_at(session, lon, lat, found_at)
    cell_id = found[0] if found else None
    if data.source != case_rules.PATROL:
        case_rules.check_official_scope(session, viewer, cell_id)
    if report is not None:
        case_rules.check_report_link(session, report, cell_id, lon, lat)
    missed = (
        data.source in MISSABLE
        and cell_id is not None
        and not seen_by_grid(session, cell_id, lon, lat, found_at)
    )
    hotspot = Hotspot(
        id=hotspot_id,
        cell_id=cell_id,
        geom=f"SRID=4326;POINT({lon} {lat})",
        lat=lat,
        lon=lon,
        category=data.category,
        description=data.description,
        source=data.source,
        found_at=found_at,
        report_id=data.report_id,
        created_by_id=actor.person_id,
        channel=channel,
        contact=contact,
        status="reported",
        missed_by_grid=missed,
        body_hash=digest,
        created_at=now,
        updated_at=now,
    )
    session.add(hotspot)
    session.flush()
    session.add(
        HotspotEvent(
            hotspot_id=hotspot.id,
            at=now,
            actor_id=actor.person_id,
            actor_label=actor.label,
            action="create",
            from_status=None,
            to_status="reported",
        )
    )
    refresh_hotspot_counts(session, cell_id)
    audit.record(
        session,
        "hotspot.create",
        "hotspot",
        hotspot.id,
        cell_id=cell_id,
        after=hotspot_facts(hotspot) | {"channel": channel},
    )
    return hotspot, True


def hotspot_facts(hotspot: Hotspot) -> dict[str, Any]:
    """What the audit log keeps of a hotspot's state."""
    return {
        "status": hotspot.status,
        "cell_id": hotspot.cell_id,
        "lat": hotspot.lat,
        "lon": hotspot.lon,
        "category": hotspot.category,
        "description": hotspot.description,
        "source": hotspot.source,
        "found_at": hotspot.found_at,
        "report_id": hotspot.report_id,
        "assignee_id": hotspot.assignee_id,
        "deadline": hotspot.deadline,
        "missed_by_grid": hotspot.missed_by_grid,
        "reworks": hotspot.reworks,
        "reopens": hotspot.reopens,
        "extensions": hotspot.extensions,
        "rectified_by_id": hotspot.rectified_by_id,
        "closed_at": hotspot.closed_at,
    }


def get_hotspot(session: Session, hotspot_id: uuid.UUID, *, lock: bool = False) -> Hotspot:
    hotspot = session.get(Hotspot, hotspot_id, with_for_update=lock)
    if hotspot is None:
        raise NotFound(f"no hotspot with id {hotspot_id}")
    return hotspot


def can_see_hotspot(session: Session, viewer: Viewer, hotspot: Hotspot) -> bool:
    if viewer.person_id in (hotspot.assignee_id, hotspot.created_by_id):
        return True
    if sees_everything(viewer):
        return True
    return hotspot.cell_id is not None and can_see_cell(session, viewer, hotspot.cell_id)


def _check_permission(session: Session, viewer: Viewer, hotspot: Hotspot, to: str) -> None:
    if to == lifecycle.EXTEND:
        if viewer.role not in ("supervisor", "command", "admin") or not oversees(
            session, viewer, hotspot.cell_id
        ):
            raise Forbidden("only a supervisor or the command office may extend a deadline")
        return
    if lifecycle.is_work_step(hotspot.status, to):
        if viewer.person_id == hotspot.assignee_id and viewer.role != "discipline":
            return
        if viewer.role in ("supervisor", "command", "admin") and oversees(
            session, viewer, hotspot.cell_id
        ):
            return
        raise Forbidden(f"only the assignee or a supervisor in scope may set {to!r}")
    if not oversees(session, viewer, hotspot.cell_id):
        raise Forbidden(
            f"role {viewer.role!r} may not move this hotspot to {to!r} (it needs the cell's "
            "leader, a supervisor or the command office in scope, or an admin)"
        )


def apply_step(session: Session, *, viewer: Viewer, hotspot_id: uuid.UUID, step: Step) -> Hotspot:
    """Check and record one step. Illegal steps raise IllegalStep (409) and change nothing."""
    hotspot = get_hotspot(session, hotspot_id, lock=True)
    if not can_see_hotspot(session, viewer, hotspot):
        raise NotFound(f"no hotspot with id {hotspot_id}")
    before = hotspot.status
    lifecycle.check_step(before, step.to)
    _check_permission(session, viewer, hotspot, step.to)
    facts_before = hotspot_facts(hotspot)
    now = clock.now()
    event = HotspotEvent(
        hotspot_id=hotspot.id,
        at=now,
        actor_id=viewer.person_id,
        actor_label=viewer.username,
        action="transition",
        from_status=before,
        to_status=step.to,
        note=step.note,
        reason=step.reason,
    )
    if step.to == lifecycle.EXTEND:
        _extend(hotspot, step, now)
        event.action, event.to_status, event.deadline = "extend", before, step.deadline
    elif step.to == "dispatched":
        assignee = _dispatch(session, hotspot, step, now)
        event.assignee_id, event.deadline = assignee, step.deadline
    elif step.to == "rectified":
        _rectified(session, viewer, hotspot, step, now)
        event.evidence_report_id = step.evidence_report_id
    elif step.to == "closed":
        if hotspot.rectified_by_id == viewer.person_id:
            raise Forbidden("the person who reported it rectified cannot verify and close it")
        hotspot.closed_at = now
    elif step.to == "rectifying" and before == "rectified":
        hotspot.reworks += 1  # 返工
        hotspot.rectified_by_id = hotspot.rectified_at = None
    elif step.to == "reopened":
        if not step.note:
            raise DomainError("reopening needs a note saying what the follow-up found")
        hotspot.reopens += 1
        event.reason = step.reason or "relapse"  # 死灰复燃
        hotspot.closed_at = hotspot.deadline = hotspot.rectified_by_id = None
    elif step.to == "rejected" and not step.note:
        raise DomainError("rejecting a hotspot needs a note saying why")
    if step.to != lifecycle.EXTEND:
        hotspot.status = step.to
    hotspot.updated_at = now
    session.add(event)
    session.flush()
    refresh_hotspot_counts(session, hotspot.cell_id)
    audit.record(
        session,
        "hotspot.transition",
        "hotspot",
        hotspot.id,
        cell_id=hotspot.cell_id,
        before=facts_before,
        after=hotspot_facts(hotspot)
        | {
            "step": step.to,
            "note": step.note,
            "reason": event.reason,
            "evidence_report_id": step.evidence_report_id,
        },
    )
    return hotspot


def _extend(hotspot: Hotspot, step: Step, now: datetime) -> None:
    if step.deadline is None:
        raise DomainError("an extension needs the new deadline")
    if hotspot.deadline is not None and step.deadline <= hotspot.deadline:
        raise DomainError("an extension must move the deadline later")
    hotspot.deadline = step.deadline
    hotspot.extensions += 1


def _dispatch(session: Session, hotspot: Hotspot, step: Step, now: datetime) -> int:
    if not step.assignee or step.deadline is None:
        raise DomainError("dispatching needs an assignee (username) and a deadline")
    if step.deadline <= now:
        raise DomainError("the deadline must lie in the future")
    person = get_person(session, step.assignee)
    if person is None:
        raise NotFound(f"no person with username {step.assignee!r}")
    case_rules.check_assignee(session, person, hotspot.cell_id, now)
    hotspot.assignee_id, hotspot.deadline = person.id, step.deadline
    return person.id


def _rectified(
    session: Session, viewer: Viewer, hotspot: Hotspot, step: Step, now: datetime
) -> None:
    if not step.note:
        raise DomainError("reporting a hotspot rectified needs a note on what was done")
    if step.evidence_report_id is not None:
        evidence = session.get(Report, step.evidence_report_id)
        if evidence is None or not can_see_report(session, viewer, evidence):
            raise NotFound(f"no report with id {step.evidence_report_id}")
        if evidence.cell_id != hotspot.cell_id or evidence.observed_at < hotspot.created_at:
            raise DomainError(
                "evidence must be a report from the hotspot's cell, made after "
                "the hotspot was reported"
            )
    if get_settings().require_photo_evidence:
        has_photo = step.evidence_report_id is not None and session.scalar(
            select(exists().where(Photo.report_id == step.evidence_report_id))
        )
        if not has_photo:
            raise DomainError(
                "photo evidence is required: evidence_report_id of a report with a photo"
            )
    hotspot.rectified_by_id, hotspot.rectified_at = viewer.person_id, now
    hotspot.evidence_report_id = step.evidence_report_id


def is_overdue(hotspot: Hotspot, at: datetime) -> bool:
    return (
        hotspot.status in lifecycle.RUNNING_DEADLINE
        and hotspot.deadline is not None
        and hotspot.deadline < at
    )


def hotspots_as_of(
    session: Session, cell_id: int, at: datetime
) -> list[tuple[Hotspot, str, datetime | None]]:
    """The cell's hotspots that were open at `at`, each with its status and deadline then
    (read from the event log, as the gap engine does for past instants)."""
    out = []
    candidates = session.scalars(
        select(Hotspot)
        .where(Hotspot.cell_id == cell_id, Hotspot.created_at <= at)
        .order_by(Hotspot.created_at)
    )
    for h in candidates:
        status: str | None = None
        deadline: datetime | None = None
        for e in session.scalars(
            select(HotspotEvent)
            .where(HotspotEvent.hotspot_id == h.id, HotspotEvent.at <= at)
            .order_by(HotspotEvent.at, HotspotEvent.id)
        ):
            status = e.to_status
            deadline = e.deadline or deadline
        if status is not None and lifecycle.is_open(status):
            out.append((h, status, deadline))
    return out
