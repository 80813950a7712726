"""Access state kept in the database, so that every server process sees the same: sign-in
sessions (each token names one; ending the row ends the token), the per-username sign-in
back-off, and per-address rate-limit counters."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class SignInSession(Base):
    """One sign-in: a bearer token or a browser's session cookie names it by `id`. It ends at
    `expires_at`, or earlier at `ended_at` (logout, password change, account disabled). Rows
    are kept a while after they end: `signed_in_from` tells which addresses the account's
    owner signs in from (app/domain/people/signin.py lets those through a back-off)."""

    __tablename__ = "signin_sessions"
    __table_args__ = (Index(None, "person_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    signed_in_from: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(Text)


class SignInBackoff(Base):
    """Wrong passwords in a row for one typed username, known or not: the key is an HMAC of
    the name, so the table neither reveals names nor tells real ones from made-up ones."""

    __tablename__ = "signin_backoff"

    name_key: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # No attempt for this name is weighed before this instant (except from a known address).
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateLimitHit(Base):
    """Requests per client address and limit, counted in one-minute windows."""

    __tablename__ = "rate_limit_hits"

    limit_name: Mapped[str] = mapped_column(Text, primary_key=True)
    client: Mapped[str] = mapped_column(Text, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), primary_key=True, index=True
    )
    hits: Mapped[int] = mapped_column(BigInteger)
