"""POST /api/v1/auth/token — OAuth2 password flow (SPEC §6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from app.db import SessionDep
from app.domain.accounts import get_person
from app.models import UserAccount
from app.security import create_access_token, dummy_verify, verify_password

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


@router.post("/token")
def issue_token(
    session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> Token:
    person = get_person(session, form.username)
    account = session.get(UserAccount, person.id) if person else None
    if person is None or account is None:
        dummy_verify()
        ok = False
    else:
        ok = verify_password(form.password, account.password_hash) and account.is_active
    if not ok or person is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Token(access_token=create_access_token(person.id))
