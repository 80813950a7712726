"""Signing in (SPEC §6–7): password check, a back-off per typed username, audit entries.

Both the API's token endpoint and the sign-in page call `authenticate`.

Guessing is slowed, not turned into a lock anyone can set off. Wrong passwords are counted per
typed username *and client network* (IPv4 /24, IPv6 /64): after `login_max_failures` of them
in a row, each further failure makes the next attempt from that network wait
(`login_backoff_seconds`, doubling, at most `login_backoff_max_seconds`), so a guesser slows
down the name only where the guesser is. Across all networks the name has a looser ceiling,
`login_max_failures_all_networks`, against guessing from many networks. An attempt inside a
wait is refused with 429 and Retry-After before any password is looked at. The owner is not
locked out: the right password from an address that signed in to this account within
`login_known_address_days` (in a session not ended by a password change or by disabling the
account) passes even inside a wait. Failures are forgotten a day after the last one, and the
counts start again after a sign-in outside a wait.

Unknown usernames get exactly the answers known ones get — the same 401 body, the same time
spent, the same back-off — because the back-off is keyed by an HMAC of the typed name, not by
the account. A disabled account answers as a wrong password. Every outcome is audited:
`auth.login`, `auth.failed`, `auth.delayed` (refused inside a wait); unknown usernames only as
their HMAC, since people type passwords into the username field."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.domain import audit
from app.domain.errors import DomainError, TooManyAttempts
from app.domain.people import sessions
from app.domain.people.accounts import get_person
from app.domain.people.networks import client_network
from app.models import Person, SignInBackoff, UserAccount
from app.security import dummy_verify, keyed_hash, verify_password

REFUSED = "wrong username or password"
FORGET_AFTER = timedelta(days=1)


class SignInRefused(DomainError):
    status_code = 401


class SignInDelayed(TooManyAttempts):
    """Inside a username's back-off: the attempt was not weighed."""


def name_key(username: str) -> str:
    """What the back-off and the audit log keep of a typed username."""
    return keyed_hash("username", username)[:32]


def authenticate(session: Session, username: str, password: str, address: str) -> Person:
    """The person, or SignInRefused/SignInDelayed (refusals are committed with their audit
    entries; a success is left to the caller's transaction: see `sign_in`)."""
    now = clock.now()
    audit.act_as(session, audit.Actor(f"anon:{address}"))
    key = name_key(username)
    settings = get_settings()
    # Two rows per typed name, locked in this order: its failures from the client's network,
    # and across all networks. Concurrent guesses are weighed one after the other.
    counters = [
        _counter(session, f"{key}@{client_network(address)}", now, settings.login_max_failures),
        _counter(session, f"{key}@*", now, settings.login_max_failures_all_networks),
    ]
    person = get_person(session, username)
    account = session.get(UserAccount, person.id) if person is not None else None
    target = ("person", str(person.id)) if person is not None else ("username-sha256", key)
    retry_at = max(
        (c.row.retry_at for c in counters if c.row.retry_at is not None and c.row.retry_at > now),
        default=None,
    )
    waiting = retry_at is not None
    # Asked for unknown names too (of nobody), so that both take the same work.
    known = waiting and sessions.known_address(session, person.id if person else 0, address)
    if retry_at is not None and not (person is not None and known):
        retry = math.ceil((retry_at - now).total_seconds())
        audit.record(
            session, "auth.delayed", *target, after={"from": address, "retry_at": retry_at}
        )
        session.commit()
        raise SignInDelayed(
            f"too many wrong passwords for this username: try again in {max(1, retry)} s "
            f"(密码错误次数过多，请{max(1, retry)}秒后再试)",
            retry,
        )
    if person is None or account is None:
        dummy_verify()
        right = False
    else:
        right = verify_password(password, account.password_hash) and account.is_active
    if not right:
        for c in counters:
            c.row.failures += 1
            c.row.last_failure_at = now
            c.row.retry_at = _retry_at(c.row.failures - c.threshold, now)
        facts: dict[str, object] = {"from": address, "failures": counters[0].row.failures}
        later = max((c.row.retry_at for c in counters if c.row.retry_at is not None), default=None)
        if later is not None:
            facts["retry_at"] = later
        session.execute(
            delete(SignInBackoff).where(SignInBackoff.last_failure_at <= now - FORGET_AFTER)
        )
        audit.record(session, "auth.failed", *target, after=facts)
        session.commit()
        raise SignInRefused(REFUSED)
    assert person is not None
    if not waiting:
        for c in counters:
            session.delete(c.row)
    audit.act_as(session, audit.Actor(person.username, person.id))
    audit.record(session, "auth.login", "person", person.id, after={"from": address})
    return person


def sign_in(session: Session, username: str, password: str, address: str) -> str:
    """authenticate, then open a session: its token. Commits."""
    person = authenticate(session, username, password, address)
    token = sessions.open_session(session, person.id, address)
    session.commit()
    return token


@dataclass
class _Counter:
    row: SignInBackoff
    threshold: int  # failures in a row before the attempts start to wait


def _counter(session: Session, key: str, now: datetime, threshold: int) -> _Counter:
    session.execute(
        insert(SignInBackoff)
        .values(name_key=key, failures=0, last_failure_at=now, retry_at=None)
        .on_conflict_do_nothing()
    )
    row = session.scalars(
        select(SignInBackoff).where(SignInBackoff.name_key == key).with_for_update()
    ).one()
    if row.last_failure_at <= now - FORGET_AFTER:
        row.failures, row.retry_at = 0, None
    return _Counter(row, threshold)


def _retry_at(beyond: int, now: datetime) -> datetime | None:
    """When the next attempt is weighed, `beyond` failures past the threshold."""
    settings = get_settings()
    if beyond < 0:
        return None
    delay = min(
        settings.login_backoff_max_seconds,
        settings.login_backoff_seconds * 2 ** min(beyond, 30),
    )
    return now + timedelta(seconds=delay)
