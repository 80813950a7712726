"""POST /api/v1/auth/token — OAuth2 password flow (SPEC §6) —, POST /api/v1/auth/logout and
POST /api/v1/auth/password (the signed-in person's own password; the only route a one-time
password opens)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from app.api.deps import CurrentViewer
from app.api.ratelimit import throttle
from app.db import SessionDep
from app.domain import audit
from app.domain.people import sessions
from app.domain.people.accounts import change_own_password, password_change_required
from app.domain.people.signin import SignInRefused, sign_in

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    # True for a one-time password (an account made from a roster): the token opens nothing
    # but POST /api/v1/auth/password until a password of one's own is set.
    password_change_required: bool = False


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class PasswordChanged(BaseModel):
    username: str
    sessions_ended: int


@router.post("/token", responses={401: {}, 429: {}})
def issue_token(
    session: SessionDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    address: Annotated[str, Depends(throttle)],
) -> Token:
    """OAuth2 password flow. The token names a new session, valid for
    GRIDWATCH_TOKEN_MINUTES unless it ends earlier (logout, password change, account
    disabled). After GRIDWATCH_LOGIN_MAX_FAILURES wrong passwords in a row for a username,
    further attempts wait a growing delay (429 with Retry-After); so do more than
    GRIDWATCH_LOGIN_ATTEMPTS_PER_MINUTE attempts from one address."""
    try:
        token = sign_in(session, form.username, form.password, address)
    except SignInRefused as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=exc.message,
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
    return Token(
        access_token=token,
        password_change_required=password_change_required(session, form.username),
    )


@router.post("/password", responses={401: {}, 422: {}})
def change_password(
    request: Request, body: PasswordChange, session: SessionDep, viewer: CurrentViewer
) -> PasswordChanged:
    """Replace one's own password (the one-time password of an account made from a roster
    must be replaced before anything else answers). Every other session of the account ends;
    this one goes on."""
    ended = change_own_password(
        session,
        person_id=viewer.person_id,
        current=body.current_password,
        new=body.new_password,
        keep_session=request.state.session_id,
    )
    session.commit()
    return PasswordChanged(username=viewer.username, sessions_ended=ended)


@router.post("/logout", status_code=204, responses={401: {}})
def logout(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    """End the session of this token (or cookie): it is refused from now on."""
    sessions.end_session(session, request.state.session_id, "logout")
    audit.record(session, "auth.logout", "person", viewer.person_id, after={"sessions_ended": 1})
    session.commit()
    return Response(status_code=204)
