"""Raising an event: one row of `notifications` and one delivery per configured target,
written in the caller's transaction (so an event exists exactly when what caused it commits).

Kinds are an open set. To add one (e.g. a digest of cells at risk): add it to KINDS with its
Chinese heading, build a Message where the thing happens (or in a scanner: a function
`(Session) -> int` that raises what is due and returns how many it raised, handed to the
worker by app.main and app.cli), and give it a dedupe key that names exactly one occurrence
(`<kind>:<what>:<which time>`): raising the same key again does nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.models import Notification, NotificationDelivery

# kind → the heading its messages carry (Chinese: the messages go to the office's groups).
KINDS: dict[str, str] = {
    "dispatched": "案件已派遣",
    "due_soon": "案件即将到期",
    "overdue": "案件已超期",
}


@dataclass(frozen=True)
class Message:
    """What an event says, independent of where it goes: a title, labelled lines, a path in
    gridwatch (made absolute with GRIDWATCH_PUBLIC_URL when sent) and structured data for
    machine receivers."""

    title: str
    lines: list[tuple[str, str]]
    link: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def raise_event(
    session: Session,
    *,
    kind: str,
    dedupe_key: str,
    message: Message,
    hotspot_id: uuid.UUID | None = None,
) -> int | None:
    """Write the event and its deliveries unless an event with this key exists. Returns the
    new event's id, or None (already raised, or no targets configured: the notifier is off)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; add it to KINDS")
    targets = get_settings().notify_webhooks
    if not targets:
        return None
    now = clock.now()
    payload = {
        "kind": kind,
        "occurred_at": now.isoformat(),
        "title": message.title,
        "lines": [list(line) for line in message.lines],
        "link": message.link,
        "data": message.data,
    }
    new_id = session.scalar(
        pg_insert(Notification)
        .values(
            kind=kind,
            hotspot_id=hotspot_id,
            dedupe_key=dedupe_key,
            payload=payload,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification.id)
    )
    if new_id is None:
        return None
    session.execute(
        insert(NotificationDelivery),
        [{"notification_id": new_id, "target": t.key, "next_attempt_at": now} for t in targets],
    )
    return new_id


def raised(session: Session, keys: list[str]) -> set[str]:
    """Which of these dedupe keys have been raised already."""
    if not keys:
        return set()
    return set(
        session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys)))
    )
