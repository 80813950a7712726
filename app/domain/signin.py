"""Signing in (SPEC §6–7): password check, lockout after repeated failures, audit entries.

Both the API's token endpoint and the sign-in page call `authenticate`. After
`login_max_failures` wrong passwords in a row an account is locked for `login_lock_minutes`;
the right password during the lock is refused too (so guessing cannot continue), and the lock
ends by itself. Every outcome is audited: `auth.login`, `auth.failed`, `auth.locked`,
`auth.refused` (a sign-in while locked). Unknown usernames cost the same time as known ones
and are recorded without revealing whether the name exists."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain import audit
from app.domain.accounts import get_person
from app.domain.errors import DomainError
from app.models import Person, UserAccount
from app.security import dummy_verify, verify_password


class SignInRefused(DomainError):
    status_code = 401


class AccountLocked(DomainError):
    status_code = 423  # Locked (WebDAV); clients show the message


def authenticate(session: Session, username: str, password: str, address: str) -> Person:
    """The person, or SignInRefused/AccountLocked. Commits what it records."""
    settings = get_settings()
    now = datetime.now(UTC)
    audit.act_as(session, audit.Actor(f"anon:{address}"))
    person = get_person(session, username)
    # Locked, so that concurrent wrong guesses are all counted.
    account = (
        session.scalars(
            select(UserAccount)
            .where(UserAccount.person_id == person.id)
            .with_for_update(of=UserAccount.__table__)
        ).first()
        if person is not None
        else None
    )
    if person is None or account is None:
        dummy_verify()
        # Never the typed name itself: people type passwords into the username field.
        key = settings.secret_key.encode()
        typed = hmac.new(key, username.encode(), hashlib.sha256).hexdigest()[:16]
        audit.record(session, "auth.failed", "username-sha256", typed, after={"from": address})
        session.commit()
        raise SignInRefused("wrong username or password")
    # Verify first: a locked or disabled account takes as long as a wrong password.
    right = verify_password(password, account.password_hash)
    locked = account.locked_until is not None and account.locked_until > now
    if locked:
        audit.record(
            session,
            "auth.refused",
            "person",
            person.id,
            after={"from": address, "locked_until": account.locked_until},
        )
        session.commit()
        raise AccountLocked(_locked_message(account.locked_until))
    if not right or not account.is_active:
        account.failed_logins += 1
        facts = {"from": address, "failed_logins": account.failed_logins}
        audit.record(session, "auth.failed", "person", person.id, after=facts)
        if account.failed_logins >= settings.login_max_failures:
            account.locked_until = now + timedelta(minutes=settings.login_lock_minutes)
            account.failed_logins = 0
            audit.record(
                session,
                "auth.locked",
                "person",
                person.id,
                after=facts | {"locked_until": account.locked_until},
            )
        session.commit()
        raise SignInRefused("wrong username or password")
    audit.act_as(session, audit.Actor(person.username, person.id))
    account.failed_logins = 0
    account.locked_until = None
    audit.record(session, "auth.login", "person", person.id, after={"from": address})
    session.commit()
    return person


def _locked_message(until: datetime | None) -> str:
    minutes = max(1, round(((until or datetime.now(UTC)) - datetime.now(UTC)).total_seconds() / 60))
    return (
        f"too many wrong passwords: this account is locked for about {minutes} more minutes "
        f"(账号已锁定，约{minutes}分钟后可再试)"
    )
