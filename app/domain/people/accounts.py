"""Persons and their login accounts (SPEC §3, §7)."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.domain import audit
from app.domain.errors import DomainError, NotFound, Unprocessable
from app.domain.grid.cells import get_cell
from app.domain.people import sessions
from app.models import Person, UserAccount
from app.models.people import ROLES
from app.security import MIN_PASSWORD_LENGTH, hash_password, verify_password

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise DomainError(f"username {username!r} must be 2–64 letters, digits or _ . @ -")
    return username


def get_person(session: Session, username: str) -> Person | None:
    return session.scalar(select(Person).where(Person.username == username))


def create_or_update_user(
    session: Session,
    *,
    username: str,
    role: str,
    password: str,
    scope: str | None = None,
    name: str | None = None,
    phone: str | None = None,
) -> tuple[Person, bool]:
    """Create the person and account, or update them. Returns (person, created)."""
    check_username(username)
    if role not in ROLES:
        raise DomainError(f"role {role!r} is not one of {', '.join(ROLES)}")
    check_password(password)
    scope_cell = get_cell(session, scope) if scope else None
    person = get_person(session, username)
    created = person is None
    before = None if person is None else person_facts(person)
    if person is None:
        person = Person(username=username, name=name or username, phone=phone, role=role)
        session.add(person)
    else:
        person.role = role
        if name:
            person.name = name
        if phone:
            person.phone = phone
    person.scope_cell_id = scope_cell.id if scope_cell else None
    session.flush()
    account = session.get(UserAccount, person.id)
    ended = 0
    if account is None:
        session.add(UserAccount(person_id=person.id, password_hash=hash_password(password)))
    else:
        account.password_hash = hash_password(password)
        account.password_changed_at = clock.now()
        account.is_active = True
        # A new password ends the sessions signed in with the old one.
        ended = sessions.end_sessions_of(session, person.id, "password changed")
    session.flush()
    audit.record(
        session,
        "user.create" if created else "user.update",
        "person",
        person.id,
        before=before,
        after=person_facts(person) | {"password_set": True, "sessions_ended": ended},
    )
    return person, created


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def _account_of(session: Session, username: str) -> tuple[Person, UserAccount]:
    person = get_person(session, username)
    account = session.get(UserAccount, person.id) if person is not None else None
    if person is None or account is None:
        raise NotFound(f"no account with username {username!r}")
    return person, account


@dataclass(frozen=True)
class AccountChange:
    username: str
    active: bool
    sessions_ended: int

    def describe(self, done: str) -> str:
        state = "" if self.active else " (account disabled)"
        return f"user {self.username} {done}; {self.sessions_ended} session(s) ended{state}"


def set_password(session: Session, *, username: str, password: str) -> AccountChange:
    """Give the account a new password and end all its sessions."""
    check_password(password)
    person, account = _account_of(session, username)
    account.password_hash = hash_password(password)
    account.password_changed_at = clock.now()
    ended = sessions.end_sessions_of(session, person.id, "password changed")
    audit.record(
        session,
        "user.password",
        "person",
        person.id,
        after={"username": username, "password_set": True, "sessions_ended": ended},
    )
    return AccountChange(username, account.is_active, ended)


def disable_user(session: Session, *, username: str) -> AccountChange:
    """Disable the account: it cannot sign in, and all its sessions end.
    (`gridwatch create-user` for the same username enables it again.)"""
    person, account = _account_of(session, username)
    was_active = account.is_active
    account.is_active = False
    ended = sessions.end_sessions_of(session, person.id, "account disabled")
    audit.record(
        session,
        "user.disable",
        "person",
        person.id,
        before={"username": username, "active": was_active},
        after={"username": username, "active": False, "sessions_ended": ended},
    )
    return AccountChange(username, False, ended)


# Read aloud and typed on a phone: no 0/o, 1/l/i look-alikes, lower case only.
ONE_TIME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def one_time_password() -> str:
    """12 random characters (about 59 bits) in groups of four: abcd-2345-wxyz."""
    chars = "".join(secrets.choice(ONE_TIME_ALPHABET) for _ in range(12))
    return "-".join(chars[i : i + 4] for i in range(0, 12, 4))


def create_logins(session: Session, persons: Sequence[Person]) -> dict[int, str]:
    """A login for each of `persons` (who have none), each with a one-time password that must
    be changed at the first sign-in. Returns the passwords by person id: shown once, stored
    only as hashes. (Hashing takes a deliberate fraction of a second: done on every core.)"""
    passwords = [one_time_password() for _ in persons]
    with ThreadPoolExecutor() as pool:
        hashes = list(pool.map(hash_password, passwords))
    for person, password_hash in zip(persons, hashes, strict=True):
        session.add(
            UserAccount(person_id=person.id, password_hash=password_hash, must_change_password=True)
        )
    session.flush()
    for person in persons:
        audit.record(
            session,
            "user.create",
            "person",
            person.id,
            after=person_facts(person) | {"password_set": True, "one_time_password": True},
        )
    return {p.id: pw for p, pw in zip(persons, passwords, strict=True)}


def password_change_required(session: Session, username: str) -> bool:
    """Whether the account signs in with a one-time password it has yet to replace."""
    person = get_person(session, username)
    account = session.get(UserAccount, person.id) if person is not None else None
    return account is not None and account.must_change_password


def change_own_password(
    session: Session,
    *,
    person_id: int,
    current: str,
    new: str,
    keep_session: uuid.UUID | None = None,
) -> int:
    """The signed-in person replaces their password (a one-time one, or any): the current one
    must be right and the new one differ from it. Every other session of theirs ends; the one
    they are using (`keep_session`, its id) goes on. Returns how many sessions ended."""
    account = session.get(UserAccount, person_id)
    if account is None or not verify_password(current, account.password_hash):
        raise Unprocessable("the current password is wrong (当前密码不正确)")
    check_password(new)
    if new == current:
        raise Unprocessable(
            "the new password must differ from the current one (新密码不能与当前密码相同)"
        )
    account.password_hash = hash_password(new)
    account.password_changed_at = clock.now()
    was_one_time = account.must_change_password
    account.must_change_password = False
    ended = sessions.end_sessions_of(session, person_id, "password changed", keep=keep_session)
    audit.record(
        session,
        "user.password",
        "person",
        person_id,
        after={
            "username": account.person.username,
            "password_set": True,
            "by": "self",
            "one_time_password_replaced": was_one_time,
            "sessions_ended": ended,
        },
    )
    return ended


def person_facts(person: Person) -> dict[str, Any]:
    """What the audit log keeps of a person (never a password or its hash)."""
    return {
        "username": person.username,
        "name": person.name,
        "phone": person.phone,
        "role": person.role,
        "scope_cell_id": person.scope_cell_id,
    }
