"""Delivering the outbox: for each target, its undelivered events oldest first.

No transaction is open while a webhook is posted to: each event is claimed in a short
transaction (the target's oldest undelivered delivery, locked, its `next_attempt_at` moved on
by a lease), committed, posted, and its outcome recorded in a second short transaction. A
claimed head is not due again until its lease runs out, so while one worker posts it the
others find the target's head waiting and leave the target for the round: a target's queue
is worked by one process at a time. A target hears its events in order: a failure stops its
queue for the round, and nothing behind the failed event is sent before it — the queue
waits for its head's next attempt (back-off doubling from notify_retry_base_seconds up to
notify_retry_max_seconds). No attempt limit: an outage loses nothing, the queue resumes when
the target answers. A message is sent at least once, not exactly once: a worker that dies
between its post and the record (or a post slower than the lease) leaves the head to be sent
again when the lease runs out. A receiver that must never act twice dedupes by the event's
`id` (the JSON body's, `X-Gridwatch-Delivery`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from app import clock
from app.config import WebhookTarget, get_settings
from app.domain.notify import messages
from app.models import Notification, NotificationDelivery


@dataclass
class DeliveryRun:
    delivered: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # target → its last error this round


@dataclass(frozen=True)
class _Claim:
    """A target's head, claimed by this worker until its lease runs out."""

    delivery_id: int
    attempt: int
    notification_id: int
    dedupe_key: str
    payload: dict[str, Any]


def backoff(attempts: int) -> timedelta:
    settings = get_settings()
    seconds = settings.notify_retry_base_seconds * 2 ** min(attempts - 1, 30)
    return timedelta(seconds=min(seconds, settings.notify_retry_max_seconds))


def lease() -> timedelta:
    """How long a claimed head is its worker's: the post's time-outs (each of connecting,
    sending and reading may take notify_timeout_seconds) with room to spare."""
    return timedelta(seconds=4 * get_settings().notify_timeout_seconds + 30)


def deliver_due(
    sessions: sessionmaker[Session], *, client: httpx.Client, targets: list[WebhookTarget]
) -> DeliveryRun:
    """Send every due delivery of these targets; what fails is kept for its next attempt."""
    run = DeliveryRun()
    for target in targets:
        while _deliver_head(sessions, client, target, run):
            pass
    return run


def _deliver_head(
    sessions: sessionmaker[Session], client: httpx.Client, target: WebhookTarget, run: DeliveryRun
) -> bool:
    """Claim, post and record the target's oldest undelivered event. True if it was
    delivered (the next one may be due)."""
    claim = _claim_head(sessions, target)
    if claim is None:
        return False
    error = _send(client, target, claim)  # no transaction is open here
    with sessions() as session, session.begin():
        delivery = session.get_one(NotificationDelivery, claim.delivery_id, with_for_update=True)
        if error is None:
            if delivery.delivered_at is None:
                delivery.delivered_at, delivery.last_error = clock.now(), None
            run.delivered += 1
            return True
        if delivery.delivered_at is None and delivery.attempts == claim.attempt:
            # (a later attempt by another worker, after this lease ran out, records itself)
            delivery.last_error = error
            delivery.next_attempt_at = clock.now() + backoff(claim.attempt)
        run.failed += 1
        run.errors[target.key] = error
        return False


def _claim_head(sessions: sessionmaker[Session], target: WebhookTarget) -> _Claim | None:
    """The target's head if it is due, claimed for one attempt (committed before it is sent);
    None if the queue is empty or its head waits — for its back-off, or for the worker posting
    it now."""
    with sessions() as session, session.begin():
        row = session.execute(
            select(NotificationDelivery, Notification)
            .join(Notification, Notification.id == NotificationDelivery.notification_id)
            .where(
                NotificationDelivery.target == target.key,
                NotificationDelivery.delivered_at.is_(None),
            )
            .order_by(NotificationDelivery.notification_id)
            .limit(1)
            .with_for_update(of=NotificationDelivery)
        ).first()
        if row is None:
            return None
        delivery, notification = row
        now = clock.now()
        if delivery.next_attempt_at > now:
            return None
        delivery.attempts += 1
        delivery.next_attempt_at = now + lease()
        return _Claim(
            delivery.id,
            delivery.attempts,
            notification.id,
            notification.dedupe_key,
            dict(notification.payload),
        )


def _send(client: httpx.Client, target: WebhookTarget, claim: _Claim) -> str | None:
    url, headers, content = messages.signed_request(
        target,
        notification_id=claim.notification_id,
        dedupe_key=claim.dedupe_key,
        payload=claim.payload,
        now=clock.now(),
    )
    try:
        response = client.post(url, content=content, headers=headers)
    except httpx.HTTPError as exc:
        # The URL may carry a robot's key: never keep it in an error.
        text = str(exc).replace(url, target.key).replace(target.url, target.key)
        return f"{type(exc).__name__}: {text}"[:500]
    return messages.refusal(target, response.status_code, response.text)


def pending(session: Session, targets: list[str]) -> dict[str, tuple[int, str | None]]:
    """Per configured target: how many events wait, and the error of the one that waits
    longest. Targets no longer configured are not waiting for anything: see `unconfigured`."""
    out: dict[str, tuple[int, str | None]] = {}
    rows = session.execute(
        select(
            NotificationDelivery.target,
            func.count(),
            func.min(NotificationDelivery.notification_id),
        )
        .where(
            NotificationDelivery.delivered_at.is_(None), NotificationDelivery.target.in_(targets)
        )
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


def unconfigured(session: Session, targets: list[str]) -> dict[str, int]:
    """Undelivered events of targets no longer configured (removed or renamed), per target.
    Nobody sends them, and they are not counted as waiting; they are kept (configuring the
    target again resumes its queue) until `drop_unconfigured` discards them."""
    rows = session.execute(
        select(NotificationDelivery.target, func.count())
        .where(
            NotificationDelivery.delivered_at.is_(None),
            NotificationDelivery.target.not_in(targets),
        )
        .group_by(NotificationDelivery.target)
        .order_by(NotificationDelivery.target)
    ).all()
    return {target: count for target, count in rows}


def drop_unconfigured(session: Session, targets: list[str]) -> dict[str, int]:
    """Discard the undelivered events of targets no longer configured; what was dropped, per
    target. The events themselves and every delivery made stay."""
    dropped: dict[str, int] = {}
    for target in session.scalars(
        delete(NotificationDelivery)
        .where(
            NotificationDelivery.delivered_at.is_(None),
            NotificationDelivery.target.not_in(targets),
        )
        .returning(NotificationDelivery.target)
    ):
        dropped[target] = dropped.get(target, 0) + 1
    return dict(sorted(dropped.items()))
