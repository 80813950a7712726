"""Filters, orders and counts for lists of cases (`GET /api/v1/hotspots`, the desk, the phone's
"my cases"): what is overdue or due soon, whose it is, when it was found. Who may see which
case is not decided here: the caller adds that condition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, select
from sqlalchemy.orm import Session

from app.domain.hotspots import lifecycle
from app.models import Hotspot, Person

# sort=KEY ascending, sort=-KEY descending; ties broken by the newest case first, then id.
SORTS: dict[str, Any] = {
    "found_at": Hotspot.found_at,
    "created_at": Hotspot.created_at,
    "updated_at": Hotspot.updated_at,
    "deadline": Hotspot.deadline,
    "status": Hotspot.status,
}
SORT_CHOICES = tuple(key for name in SORTS for key in (name, f"-{name}"))


@dataclass(frozen=True)
class CaseFilter:
    due_within_hours: int | None = None  # a running deadline in [now, now + hours)
    assignee: str | None = None  # a username
    found_from: datetime | None = None  # found_at in [found_from, found_to)
    found_to: datetime | None = None


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """SPEC §4: past its deadline and not yet rectified or closed (as cases.is_overdue)."""
    return Hotspot.status.in_(lifecycle.RUNNING_DEADLINE) & (Hotspot.deadline < now)


def conditions(session: Session, f: CaseFilter, now: datetime) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if f.due_within_hours is not None:
        out.append(Hotspot.status.in_(lifecycle.RUNNING_DEADLINE))
        out.append(Hotspot.deadline >= now)
        out.append(Hotspot.deadline < now + timedelta(hours=f.due_within_hours))
    if f.assignee is not None:
        person_id = session.scalar(select(Person.id).where(Person.username == f.assignee))
        out.append(Hotspot.assignee_id == person_id if person_id is not None else false())
    if f.found_from is not None:
        out.append(Hotspot.found_at >= f.found_from)
    if f.found_to is not None:
        out.append(Hotspot.found_at < f.found_to)
    return out


def ordered(stmt: Select[Any], sort: str | None) -> Select[Any]:
    if sort is None:
        return stmt.order_by(Hotspot.created_at.desc(), Hotspot.id)
    column = SORTS[sort.removeprefix("-")]
    key = column.desc().nulls_last() if sort.startswith("-") else column.asc().nulls_last()
    return stmt.order_by(key, Hotspot.created_at.desc(), Hotspot.id)


def status_counts(session: Session, where: list[ColumnElement[bool]]) -> dict[str, int]:
    """How many cases of each status match (every status named, zeros included)."""
    counts = dict.fromkeys(lifecycle.STEPS, 0)
    for status, n in session.execute(
        select(Hotspot.status, func.count()).where(*where).group_by(Hotspot.status)
    ):
        counts[status] = n
    return counts
