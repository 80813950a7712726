"""What the notifier says about cases (issue 17): each dispatch (raised by the dispatch step
itself, in its transaction), and each deadline due soon or passed (raised by `scan`, which the
notifier's worker runs every round).

Dedupe keys name one occurrence each: `dispatched:<case>:<step id>` (a re-dispatch after
回头看 is a new one), `due_soon:<case>:<deadline>` and `overdue:<case>:<deadline>` — an
extended deadline raises its own reminders; a re-scan never repeats one. Due soon is the
desk's rule (app/rules.py: DUE_SOON_HOURS, through listing.conditions), overdue is SPEC §4's
(listing.overdue_condition)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.domain.categories import CATEGORIES
from app.domain.hotspots import listing
from app.domain.notify.events import KINDS, Message, raise_event, raised
from app.models import Cell, Hotspot, HotspotEvent, Person
from app.rules import DUE_SOON_HOURS

DESCRIPTION_CHARS = 200


def _local(at: datetime) -> str:
    tz = get_settings().timezone
    label = "北京时间" if tz == "Asia/Shanghai" else tz
    return f"{at.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M}（{label}）"


def _deadline_key(deadline: datetime) -> str:
    return deadline.astimezone(UTC).isoformat()


def case_message(session: Session, hotspot: Hotspot, kind: str) -> Message:
    """The case as the office's group reads it: which case, what, where, whose, by when."""
    cell = session.get(Cell, hotspot.cell_id) if hotspot.cell_id is not None else None
    assignee = session.get(Person, hotspot.assignee_id) if hotspot.assignee_id else None
    category = CATEGORIES.get(hotspot.category, hotspot.category)
    where = f"{cell.name}（{cell.code}）" if cell else "不在监管网格内"
    description = hotspot.description.strip()
    if len(description) > DESCRIPTION_CHARS:
        description = description[: DESCRIPTION_CHARS - 1] + "…"
    lines = [
        ("案件编号", f"{str(hotspot.id)[:8]}（{hotspot.id}）"),
        ("问题类别", category),
        ("所在网格", where),
        ("责任人", f"{assignee.name}（{assignee.username}）" if assignee else "未指定"),
        ("整改时限", _local(hotspot.deadline) if hotspot.deadline else "未设定"),
        ("问题描述", description or "—"),
    ]
    return Message(
        title=f"{KINDS[kind]}：{category} · {cell.name if cell else '网格外'}",
        lines=lines,
        link=f"/desk?case={hotspot.id}",
        data={
            "case_id": str(hotspot.id),
            "status": hotspot.status,
            "category": hotspot.category,
            "category_label": category,
            "cell_code": cell.code if cell else None,
            "cell_name": cell.name if cell else None,
            "assignee": assignee.username if assignee else None,
            "assignee_name": assignee.name if assignee else None,
            "deadline": hotspot.deadline.isoformat() if hotspot.deadline else None,
            "source": hotspot.source,
        },
    )


def dispatched(session: Session, hotspot: Hotspot, step: HotspotEvent) -> None:
    """The dispatch step's event, written in the step's own transaction (after its flush)."""
    raise_event(
        session,
        kind="dispatched",
        dedupe_key=f"dispatched:{hotspot.id}:{step.id}",
        message=case_message(session, hotspot, "dispatched"),
        hotspot_id=hotspot.id,
    )


def scan(session: Session) -> int:
    """Raise due-soon and overdue events for cases whose running deadline is due now and
    not yet told. How many were raised."""
    if not get_settings().notify_webhooks:
        return 0
    now = clock.now()
    due_soon = listing.conditions(session, listing.CaseFilter(due_within_hours=DUE_SOON_HOURS), now)
    count = 0
    for kind, where in (("due_soon", due_soon), ("overdue", [listing.overdue_condition(now)])):
        candidates: dict[str, uuid.UUID] = {}
        for case_id, deadline in session.execute(
            select(Hotspot.id, Hotspot.deadline).where(*where).order_by(Hotspot.deadline)
        ):
            if deadline is not None:  # the conditions compare it, so it is there
                candidates[f"{kind}:{case_id}:{_deadline_key(deadline)}"] = case_id
        told = raised(session, list(candidates))
        for key, case_id in candidates.items():
            if key in told:
                continue
            hotspot = session.get_one(Hotspot, case_id)
            if raise_event(
                session,
                kind=kind,
                dedupe_key=key,
                message=case_message(session, hotspot, kind),
                hotspot_id=case_id,
            ):
                count += 1
    return count
