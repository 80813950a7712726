"""Delivering the outbox: for each target, its undelivered events oldest first.

Each target's queue is worked by one process at a time (a transaction-scoped advisory lock
on the target's name; others skip the target this round), its rows claimed with
FOR UPDATE SKIP LOCKED. A target hears its events in order: the first failure stops its
queue for the round, and nothing behind the failed event is sent before it — the queue
waits for its head's next attempt (back-off doubling from notify_retry_base_seconds up to
notify_retry_max_seconds). No attempt limit: an outage loses nothing, the queue resumes when
the target answers. A message is sent at least once: a receiver that must never act twice
dedupes by the event's `id` (the JSON body's, `X-Gridwatch-Delivery`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app import clock
from app.config import WebhookTarget, get_settings
from app.domain.notify import messages
from app.models import Notification, NotificationDelivery

BATCH = 50


@dataclass
class DeliveryRun:
    delivered: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # target → its last error this round


def backoff(attempts: int) -> timedelta:
    settings = get_settings()
    seconds = settings.notify_retry_base_seconds * 2 ** min(attempts - 1, 30)
    return timedelta(seconds=min(seconds, settings.notify_retry_max_seconds))


def deliver_due(
    sessions: sessionmaker[Session], *, client: httpx.Client, targets: list[WebhookTarget]
) -> DeliveryRun:
    """Send every due delivery of these targets; what fails is kept for its next attempt."""
    run = DeliveryRun()
    for target in targets:
        while _deliver_batch(sessions, client, target, run):
            pass
    return run


def _deliver_batch(
    sessions: sessionmaker[Session], client: httpx.Client, target: WebhookTarget, run: DeliveryRun
) -> bool:
    """One batch of the target's queue, in one transaction. True if more may be due."""
    with sessions() as session, session.begin():
        lock = func.pg_try_advisory_xact_lock(func.hashtext("gridwatch.notify:" + target.key))
        if not session.scalar(select(lock)):
            return False  # another process is working this target's queue
        rows = session.execute(
            select(NotificationDelivery, Notification)
            .join(Notification, Notification.id == NotificationDelivery.notification_id)
            .where(
                NotificationDelivery.target == target.key,
                NotificationDelivery.delivered_at.is_(None),
            )
            .order_by(NotificationDelivery.notification_id)
            .limit(BATCH)
            .with_for_update(of=NotificationDelivery, skip_locked=True)
        ).all()
        for delivery, notification in rows:
            if delivery.next_attempt_at > clock.now():
                return False  # the queue's head waits for its next attempt
            error = _send(client, target, notification)
            delivery.attempts += 1
            if error is None:
                delivery.delivered_at, delivery.last_error = clock.now(), None
                run.delivered += 1
                continue
            delivery.last_error = error
            delivery.next_attempt_at = clock.now() + backoff(delivery.attempts)
            run.failed += 1
            run.errors[target.key] = error
            return False
        return len(rows) == BATCH


def _send(client: httpx.Client, target: WebhookTarget, notification: Notification) -> str | None:
    url, headers, content = messages.signed_request(
        target,
        notification_id=notification.id,
        dedupe_key=notification.dedupe_key,
        payload=notification.payload,
        now=clock.now(),
    )
    try:
        response = client.post(url, content=content, headers=headers)
    except httpx.HTTPError as exc:
        # The URL may carry a robot's key: never keep it in an error.
        text = str(exc).replace(url, target.key).replace(target.url, target.key)
        return f"{type(exc).__name__}: {text}"[:500]
    return messages.refusal(target, response.status_code, response.text)


def pending(session: Session) -> dict[str, tuple[int, str | None]]:
    """Per target: how many events wait, and the error of the one that waits longest."""
    out: dict[str, tuple[int, str | None]] = {}
    rows = session.execute(
        select(
            NotificationDelivery.target,
            func.count(),
            func.min(NotificationDelivery.notification_id),
        )
        .where(NotificationDelivery.delivered_at.is_(None))
        .group_by(NotificationDelivery.target)
        .order_by(NotificationDelivery.target)
    ).all()
    for target, count, head in rows:
        error = session.scalar(
            select(NotificationDelivery.last_error).where(
                NotificationDelivery.target == target, NotificationDelivery.notification_id == head
            )
        )
        out[target] = (count, error)
    return out
