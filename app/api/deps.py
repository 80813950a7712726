"""Request dependencies: the signed-in person and role checks (SPEC §7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer

from app.db import SessionDep
from app.domain.scope import Viewer
from app.models import Person, UserAccount
from app.security import person_id_from_token

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def current_viewer(session: SessionDep, token: Annotated[str | None, Depends(oauth2)]) -> Viewer:
    if not token:
        raise _unauthorised("not signed in: send a bearer token from /api/v1/auth/token")
    person_id = person_id_from_token(token)
    if person_id is None:
        raise _unauthorised("the token is invalid or has expired; sign in again")
    person = session.get(Person, person_id)
    account = session.get(UserAccount, person_id)
    if person is None or account is None or not account.is_active:
        raise _unauthorised("this account no longer exists or is disabled")
    return Viewer.of(person)


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


def require_roles(*roles: str) -> Callable[[Viewer], Viewer]:
    def check(viewer: CurrentViewer) -> Viewer:
        if viewer.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {viewer.role!r} may not do this; allowed: {', '.join(roles)}",
            )
        return viewer

    return check
