"""POST /api/v1/auth/token — OAuth2 password flow (SPEC §6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from app.api.ratelimit import throttle
from app.db import SessionDep
from app.domain.signin import SignInRefused, authenticate
from app.security import create_access_token

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


@router.post("/token", responses={401: {}, 423: {}, 429: {}})
def issue_token(
    session: SessionDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    address: Annotated[str, Depends(throttle)],
) -> Token:
    """OAuth2 password flow. Wrong passwords lock the account for a while after
    GRIDWATCH_LOGIN_MAX_FAILURES in a row (423); too many attempts from one address: 429."""
    try:
        person = authenticate(session, form.username, form.password, address)
    except SignInRefused as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=exc.message,
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
    return Token(access_token=create_access_token(person.id))
