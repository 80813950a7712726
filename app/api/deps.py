"""Request dependencies: the signed-in person and role checks (SPEC §7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.db import SessionDep
from app.domain import audit
from app.domain.people.scope import Viewer
from app.models import Person, SignInSession, UserAccount
from app.security import (
    CSRF_HEADER,
    TokenClaims,
    csrf_ok,
    read_access_token,
    session_cookie_name,
)

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# The signed-in person, if their account is active and the token's session still open: one
# query per request (on the tables, not the ORM entities: no ORM loading machinery for four
# plain columns; the session row is found by its primary key).
_persons, _accounts, _sessions = (
    Person.__table__,
    UserAccount.__table__,
    SignInSession.__table__,
)
_SIGNED_IN = (
    select(
        _persons.c.id,
        _persons.c.username,
        _persons.c.role,
        _persons.c.scope_cell_id,
        _accounts.c.must_change_password,
    )
    .join(_accounts, _accounts.c.person_id == _persons.c.id)
    .join(_sessions, _sessions.c.person_id == _persons.c.id)
    .where(
        _persons.c.id == bindparam("id"),
        _accounts.c.is_active,
        _sessions.c.id == bindparam("sid"),
        _sessions.c.ended_at.is_(None),
        _sessions.c.expires_at > bindparam("now"),
    )
)


def secure_request(request: Request) -> bool:
    """Served over HTTPS (directly, through a trusted proxy, or declared by setting)."""
    return request.url.scheme == "https" or get_settings().secure_cookies


def session_cookie(request: Request) -> str | None:
    """The session cookie's token; over HTTPS only the `__Host-` cookie counts."""
    return request.cookies.get(session_cookie_name(secure_request(request))) or None


def signed_in(session: Session, claims: TokenClaims | None) -> tuple[Viewer, bool] | None:
    """The person of a token whose session is open and whose account is active, and whether
    they must still replace a one-time password."""
    if claims is None:
        return None
    row = session.execute(
        _SIGNED_IN, {"id": claims.person_id, "sid": claims.session_id, "now": clock.now()}
    ).first()
    if row is None:
        return None
    return Viewer(row.id, row.username, row.role, row.scope_cell_id), row.must_change_password


def viewer_for(session: Session, claims: TokenClaims | None) -> Viewer | None:
    """The person of a token whose session is open and whose account is active."""
    found = signed_in(session, claims)
    return None if found is None else found[0]


# All a one-time password opens: replacing it, or signing out.
PASSWORD_CHANGE_PATHS = frozenset({"/api/v1/auth/password", "/api/v1/auth/logout"})


def from_this_site(request: Request) -> bool:
    """False when the browser says the request comes from another site, or from another
    origin of this site (a sibling host): a cookie is no authority there."""
    return request.headers.get("sec-fetch-site") in (None, "same-origin", "none")


def same_origin(request: Request) -> bool:
    """Positive evidence that the browser sent the request from this origin (or that the
    user typed or bookmarked it): Sec-Fetch-Site, else Origin, else Referer."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    own = f"{request.url.scheme}://{request.url.netloc}"
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == own
    referer = request.headers.get("referer")
    return referer is not None and (referer == own or referer.startswith(own + "/"))


def current_viewer(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2)]
) -> Viewer:
    """The bearer token's person, or the session cookie's (pages). Cookie-authenticated
    writes need the CSRF header."""
    by_cookie = False
    if not token:
        token = session_cookie(request)
        by_cookie = token is not None
        if token and not from_this_site(request):
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
    claims = read_access_token(token)
    if claims is None:
        raise _unauthorised("the token is invalid or has expired; sign in again")
    found = signed_in(session, claims)
    if found is None:
        raise _unauthorised("this session has ended or the account is disabled; sign in again")
    viewer, must_change_password = found
    if must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="choose your own password first: this account signed in with a one-time "
            "password; POST /api/v1/auth/password {current_password, new_password} "
            "(请先修改一次性密码)",
        )
    request.state.by_cookie = by_cookie
    request.state.session_id = claims.session_id
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
ACCOUNTABLE_ROLES = ("supervisor", "command", "discipline", "admin")  # SPEC §7: exports, audit
Accountable = Annotated[Viewer, Depends(require_roles(*ACCOUNTABLE_ROLES))]
Admin = Annotated[Viewer, Depends(require_roles("admin"))]


async def exporting_viewer(request: Request, viewer: Accountable) -> Viewer:
    """Exports and dossiers are GETs that write an audit entry in the viewer's name: signed
    in by cookie, they are served only to requests from this origin (bearer tokens, which no
    other site can make a browser send, are not asked)."""
    if getattr(request.state, "by_cookie", False) and not same_origin(request):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="an export signed in by cookie must be requested from gridwatch's own pages",
        )
    return viewer


Exporter = Annotated[Viewer, Depends(exporting_viewer)]
