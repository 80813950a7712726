"""Sign-in sessions: every token names one, and a request is honoured only while its session
is open — so logging out, a password change and disabling an account take effect at once.

A session row is written at sign-in with the address it came from; rows are kept
`login_known_address_days` after they start (or until they expire, if later), since they also
tell the sign-in back-off which addresses the account's owner uses."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.models import SignInSession
from app.security import TokenClaims, create_access_token


def open_session(session: Session, person_id: int, address: str) -> str:
    """Start a session for the person and return its signed token (the caller commits)."""
    settings = get_settings()
    now = clock.now()
    expires = now + timedelta(minutes=settings.token_minutes)
    row = SignInSession(
        id=uuid.uuid4(),
        person_id=person_id,
        signed_in_from=address,
        created_at=now,
        expires_at=expires,
    )
    session.add(row)
    _forget_old(session, person_id, now)
    session.flush()
    return create_access_token(
        person_id=person_id, session_id=row.id, issued_at=now, expires_at=expires
    )


def open_session_condition(claims: TokenClaims, now: datetime) -> list[ColumnElement[bool]]:
    """SQL conditions on SignInSession that hold while the token's session is open."""
    return [
        SignInSession.id == claims.session_id,
        SignInSession.person_id == claims.person_id,
        SignInSession.ended_at.is_(None),
        SignInSession.expires_at > now,
    ]


def end_session(session: Session, session_id: uuid.UUID, reason: str) -> bool:
    """End one session; False if it had ended already."""
    ended = session.execute(
        update(SignInSession)
        .where(SignInSession.id == session_id, SignInSession.ended_at.is_(None))
        .values(ended_at=clock.now(), end_reason=reason)
        .returning(SignInSession.id)
    ).all()
    return bool(ended)


def end_sessions_of(
    session: Session, person_id: int, reason: str, keep: uuid.UUID | None = None
) -> int:
    """End every open session of the person (but `keep`, a session id); how many were open."""
    now = clock.now()
    conditions = [
        SignInSession.person_id == person_id,
        SignInSession.ended_at.is_(None),
        SignInSession.expires_at > now,
    ]
    if keep is not None:
        conditions.append(SignInSession.id != keep)
    ended = session.execute(
        update(SignInSession)
        .where(*conditions)
        .values(ended_at=now, end_reason=reason)
        .returning(SignInSession.id)
    ).all()
    return len(ended)


# Sessions that ended for these reasons say nothing good about where they came from: whoever
# signed in there may have held a stolen password.
DISTRUSTED_ENDINGS = ("password changed", "account disabled")


def known_address(session: Session, person_id: int, address: str) -> bool:
    """Whether the person signed in from this address within login_known_address_days, in a
    session not ended by a password change or by disabling the account."""
    since = clock.now() - timedelta(days=get_settings().login_known_address_days)
    return bool(
        session.scalar(
            select(
                exists().where(
                    SignInSession.person_id == person_id,
                    SignInSession.signed_in_from == address,
                    SignInSession.created_at > since,
                    or_(
                        SignInSession.end_reason.is_(None),
                        SignInSession.end_reason.not_in(DISTRUSTED_ENDINGS),
                    ),
                )
            )
        )
    )


def _forget_old(session: Session, person_id: int, now: datetime) -> None:
    """Drop the person's rows that neither run nor tell a known address any more."""
    since = now - timedelta(days=get_settings().login_known_address_days)
    session.execute(
        delete(SignInSession).where(
            SignInSession.person_id == person_id,
            SignInSession.created_at <= since,
            or_(SignInSession.expires_at <= now, SignInSession.ended_at.is_not(None)),
        )
    )
