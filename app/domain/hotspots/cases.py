"""Hotspots: creation (with the missed-by-the-grid check) and every step of the case, with
permissions (SPEC §4, §7). The state machine itself is in lifecycle.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.domain import audit
from app.domain.errors import DomainError, Forbidden, NotFound
from app.domain.hotspots import lifecycle, notices
from app.domain.hotspots import rules as case_rules
from app.domain.people.accounts import get_person
from app.domain.people.scope import Viewer, get_visible, oversees
from app.domain.status import refresh_hotspot_counts
from app.models import Hotspot, HotspotEvent, Photo, Report


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


def check_permission(session: Session, viewer: Viewer, hotspot: Hotspot, to: str) -> None:
    """May this person take this step on this case (SPEC §4, §7)? The desk offers exactly the
    steps this lets through (app/domain/hotspots/desk.py)."""
    if to == "closed" and hotspot.rectified_by_id == viewer.person_id:
        raise Forbidden("the person who reported it rectified cannot verify and close it")
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
    hotspot = get_visible(session, viewer, Hotspot, hotspot_id, lock=True)
    before = hotspot.status
    lifecycle.check_step(before, step.to)
    check_permission(session, viewer, hotspot, step.to)
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
        hotspot.closed_at = now
    elif step.to == "rectifying" and before == "rectified":
        if not step.note:
            raise DomainError(
                "sending a case back for rework (返工) needs a note saying what is wrong"
            )
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
    if step.to == "dispatched":
        notices.dispatched(session, hotspot, event)  # the outbox row commits with the step
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
        evidence = get_visible(session, viewer, Report, step.evidence_report_id)
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
