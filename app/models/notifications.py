"""The notifier's durable outbox: each event (a case dispatched, a deadline due soon or
passed, …) is one row of `notifications`, written in the transaction that caused it; each
configured webhook target gets one row of `notification_deliveries` to work through, with
its own attempts and back-off (app/domain/notify/)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column


class Notification(Base):
    """One event to tell the outside world about. `kind` is an open set (see
    app/domain/notify/events.py: KINDS); `dedupe_key` makes raising an event idempotent — a
    re-scan, a retry or a second worker never raises the same one twice."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    hotspot_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("hotspots.id"), index=True)
    dedupe_key: Mapped[str] = mapped_column(Text, unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_at_column()


class NotificationDelivery(Base):
    """One event for one webhook target: delivered once it answered 2xx (and, for group
    robots, errcode 0); otherwise tried again at `next_attempt_at`, later each time."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "target"),
        # A target's queue, oldest first: what the worker claims.
        Index(
            "ix_notification_deliveries_pending",
            "target",
            "notification_id",
            postgresql_where="delivered_at IS NULL",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"))
    target: Mapped[str] = mapped_column(Text)  # the target's name (app/config.py)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
