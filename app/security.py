"""Password hashing (argon2 through pwdlib) and bearer tokens (JWT, HS256)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash

from app.config import get_settings

_hasher = PasswordHash.recommended()  # argon2id
ALGORITHM = "HS256"
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _hasher.verify(password, password_hash)


def dummy_verify() -> None:
    """Spend the same time on an unknown username as on a wrong password."""
    _hasher.verify("x", _DUMMY_HASH)


_DUMMY_HASH = _hasher.hash("gridwatch-timing-equaliser")


def create_access_token(person_id: int) -> str:
    settings = get_settings()
    now = datetime.now(UTC)
    payload = {
        "sub": str(person_id),
        "iat": now,
        "exp": now + timedelta(minutes=settings.token_minutes),
    }
    return jwt.encode(payload, settings.secret_key, algorithm=ALGORITHM)


def person_id_from_token(token: str) -> int | None:
    try:
        payload = jwt.decode(token, get_settings().secret_key, algorithms=[ALGORITHM])
        return int(payload["sub"])
    except (jwt.InvalidTokenError, KeyError, ValueError):
        return None


# --- browser sessions ----------------------------------------------------------------------
# Pages use an HttpOnly session cookie holding the same signed token as the bearer flow. Writes
# authenticated by that cookie must also carry X-CSRF-Token: an HMAC of the session token,
# readable by the page from the `gw_csrf` cookie but not forgeable by another site.
SESSION_COOKIE = "gw_session"
CSRF_COOKIE = "gw_csrf"
CSRF_HEADER = "X-CSRF-Token"


def csrf_token_for(session_token: str) -> str:
    digest = hmac.new(get_settings().secret_key.encode(), session_token.encode(), hashlib.sha256)
    return digest.hexdigest()[:40]


def csrf_ok(session_token: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(csrf_token_for(session_token), presented)
