"""Per-address rate limits, counted in PostgreSQL so that every server process shares them.

A limit allows `per_minute` requests from one client in each calendar minute (by app.clock);
the counter is one row per limit, client and minute, bumped with an upsert. A client is one
IPv4 address or one IPv6 /64 (app/domain/people/networks.py)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app import clock
from app.domain.errors import TooManyAttempts
from app.domain.people.networks import client_key
from app.models import RateLimitHit

WINDOW = timedelta(minutes=1)
KEEP = timedelta(minutes=10)

# The limits by name, each with the settings field holding its allowance per minute.
SIGN_IN = "sign-in"
OPEN311_POST = "open311-post"
OPEN311_WRONG_KEY = "open311-wrong-key"


def count(session: Session, name: str, client: str, per_minute: int, what: str) -> None:
    """Count one request; TooManyAttempts if the client is now over its limit. The count is
    written in the session's transaction: the caller commits it, refused or not."""
    client = client_key(client)
    now = clock.now()
    start = _window(now)
    hits = session.scalar(
        insert(RateLimitHit)
        .values(limit_name=name, client=client, window_start=start, hits=1)
        .on_conflict_do_update(
            index_elements=["limit_name", "client", "window_start"],
            set_={"hits": RateLimitHit.hits + 1},
        )
        .returning(RateLimitHit.hits)
    )
    if hits == 1:  # the client's first request this minute: drop windows long past
        session.execute(delete(RateLimitHit).where(RateLimitHit.window_start < now - KEEP))
    if hits is not None and hits > per_minute:
        raise _refusal(now, start, what)


def check(session: Session, name: str, client: str, per_minute: int, what: str) -> None:
    """TooManyAttempts if the client is already over its limit, without counting."""
    client = client_key(client)
    now = clock.now()
    start = _window(now)
    hits = session.scalar(
        select(RateLimitHit.hits).where(
            RateLimitHit.limit_name == name,
            RateLimitHit.client == client,
            RateLimitHit.window_start == start,
        )
    )
    if hits is not None and hits >= per_minute:
        raise _refusal(now, start, what)


def _window(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def _refusal(now: datetime, start: datetime, what: str) -> TooManyAttempts:
    retry = max(1, math.ceil((start + WINDOW - now).total_seconds()))
    return TooManyAttempts(f"too many {what} from your address; try again in {retry} s", retry)
