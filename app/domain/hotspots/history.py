"""A case as it stood at an instant, read from its event log (SPEC §4): its status then (the
last step at or before the instant) and its deadline then (the last one set at or before it).
Past maps, the cell card and the list of cases at an instant ask here; the gap engine's SQL
(app/sql/gaps_base.sql, `hot_then`) reads the log the same way."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session, aliased

from app.domain.hotspots import lifecycle
from app.models import Hotspot, HotspotEvent


def status_at(t: datetime) -> Any:
    """The case's status at `t` (NULL before it was created), as a correlated subquery."""
    ev = aliased(HotspotEvent)
    return (
        select(ev.to_status)
        .where(ev.hotspot_id == Hotspot.id, ev.at <= t)
        .order_by(ev.at.desc(), ev.id.desc())
        .limit(1)
        .correlate(Hotspot)
        .scalar_subquery()
    )


def deadline_at(t: datetime) -> Any:
    """The deadline the case ran against at `t` (the last one dispatched or extended)."""
    ev = aliased(HotspotEvent)
    return (
        select(ev.deadline)
        .where(ev.hotspot_id == Hotspot.id, ev.at <= t, ev.deadline.is_not(None))
        .order_by(ev.at.desc(), ev.id.desc())
        .limit(1)
        .correlate(Hotspot)
        .scalar_subquery()
    )


def open_at(t: datetime) -> ColumnElement[bool]:
    """Open at `t`: created by then and not finished then."""
    return and_(Hotspot.created_at <= t, status_at(t).not_in(lifecycle.FINISHED))


def overdue_at(t: datetime) -> ColumnElement[bool]:
    """Overdue at `t` (SPEC §4): running a deadline then that lay before `t`."""
    return and_(
        Hotspot.created_at <= t,
        status_at(t).in_(lifecycle.RUNNING_DEADLINE),
        deadline_at(t) < t,
    )


def states_at(
    session: Session, ids: list[uuid.UUID], t: datetime
) -> dict[uuid.UUID, tuple[str | None, datetime | None]]:
    """Each case's (status, deadline) at `t`, in one query."""
    if not ids:
        return {}
    rows = session.execute(
        select(Hotspot.id, status_at(t), deadline_at(t)).where(Hotspot.id.in_(ids))
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def is_overdue_then(status: str | None, deadline: datetime | None, t: datetime) -> bool:
    return status in lifecycle.RUNNING_DEADLINE and deadline is not None and deadline < t
