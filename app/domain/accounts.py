"""Persons and their login accounts (SPEC §3, §7)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import audit
from app.domain.cells import get_cell
from app.domain.errors import DomainError
from app.models import Person, UserAccount
from app.models.people import ROLES
from app.security import MIN_PASSWORD_LENGTH, hash_password

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
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
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
    if account is None:
        session.add(UserAccount(person_id=person.id, password_hash=hash_password(password)))
    else:
        account.password_hash = hash_password(password)
        account.is_active = True
        account.failed_logins = 0
    session.flush()
    audit.record(
        session,
        "user.create" if created else "user.update",
        "person",
        person.id,
        before=before,
        after=person_facts(person) | {"password_set": True},
    )
    return person, created


def person_facts(person: Person) -> dict[str, Any]:
    """What the audit log keeps of a person (never a password or its hash)."""
    return {
        "username": person.username,
        "name": person.name,
        "phone": person.phone,
        "role": person.role,
        "scope_cell_id": person.scope_cell_id,
    }
