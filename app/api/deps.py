"""Request dependencies: the signed-in person and role checks (SPEC §7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam, select

from app.db import SessionDep
from app.domain import audit
from app.domain.scope import Viewer
from app.models import Person, UserAccount
from app.security import CSRF_HEADER, SESSION_COOKIE, csrf_ok, person_id_from_token

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# The signed-in person, if their account exists and is active: one query per request (on the
# tables, not the ORM entities: no ORM loading machinery for four plain columns).
_persons, _accounts = Person.__table__, UserAccount.__table__
_ACTIVE_PERSON = (
    select(_persons.c.id, _persons.c.username, _persons.c.role, _persons.c.scope_cell_id)
    .join(_accounts, _accounts.c.person_id == _persons.c.id)
    .where(_persons.c.id == bindparam("id"), _accounts.c.is_active)
)


def current_viewer(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2)]
) -> Viewer:
    """The bearer token's person, or the session cookie's (pages). Cookie-authenticated
    writes need the CSRF header."""
    if not token:
        token = request.cookies.get(SESSION_COOKIE)
        if token and request.headers.get("sec-fetch-site") == "cross-site":
            # Another site's page or link: a cookie is no authority there (not even to read,
            # since reading an export writes its audit entry in this person's name).
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail="requests from another site are refused"
            )
        if (
            token
            and request.method not in SAFE_METHODS
            and not csrf_ok(token, request.headers.get(CSRF_HEADER))
        ):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"a write signed in by cookie needs the {CSRF_HEADER} header",
            )
    if not token:
        raise _unauthorised("not signed in: send a bearer token from /api/v1/auth/token")
    person_id = person_id_from_token(token)
    if person_id is None:
        raise _unauthorised("the token is invalid or has expired; sign in again")
    row = session.execute(_ACTIVE_PERSON, {"id": person_id}).first()
    if row is None:
        raise _unauthorised("this account no longer exists or is disabled")
    viewer = Viewer(row.id, row.username, row.role, row.scope_cell_id)
    audit.act_as(session, audit.Actor(viewer.username, viewer.person_id))
    return viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


def require_roles(*roles: str) -> Callable[[Viewer], Awaitable[Viewer]]:
    # A coroutine because it does no I/O: FastAPI runs it on the event loop instead of
    # handing it to the thread pool (a thread switch per request saved).
    async def check(viewer: CurrentViewer) -> Viewer:
        if viewer.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {viewer.role!r} may not do this; allowed: {', '.join(roles)}",
            )
        return viewer

    return check


# SPEC §7: accountability exports and the audit log.
Accountable = Annotated[
    Viewer, Depends(require_roles("supervisor", "command", "discipline", "admin"))
]
