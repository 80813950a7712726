"""Accounts (SPEC §7: users are the admin's): disable an account or give it a new password —
both end every session of the account at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from app.api.deps import Admin
from app.db import SessionDep
from app.domain.people.accounts import disable_user, set_password

router = APIRouter(prefix="/api/v1/users", tags=["users"])
Username = Annotated[str, Path(max_length=64)]


class NewPassword(BaseModel):
    password: str = Field(min_length=1, max_length=256)


class SessionsEnded(BaseModel):
    username: str
    active: bool
    sessions_ended: int


@router.post("/{username}/disable")
def disable(username: Username, session: SessionDep, viewer: Admin) -> SessionsEnded:
    """Disable the account: it can no longer sign in (the answer is that of a wrong
    password) and every token and cookie of it stops working now."""
    change = disable_user(session, username=username)
    session.commit()
    return SessionsEnded(**vars(change))


@router.post("/{username}/password")
def change_password(
    username: Username, body: NewPassword, session: SessionDep, viewer: Admin
) -> SessionsEnded:
    """Give the account a new password; every session signed in with the old one ends."""
    change = set_password(session, username=username, password=body.password)
    session.commit()
    return SessionsEnded(**vars(change))
