"""Password hashing (argon2 through pwdlib), bearer tokens (JWT, HS256) and the HMACs made
with the signing secret (app/secret.py)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from pwdlib import PasswordHash

from app import clock
from app.secret import signing_key

_hasher = PasswordHash.recommended()  # argon2id
ALGORITHM = "HS256"
MIN_PASSWORD_LENGTH = 8
# A token issued this far "in the future" is refused (clocks of several servers may differ).
CLOCK_SKEW = timedelta(seconds=60)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _hasher.verify(password, password_hash)


def dummy_verify() -> None:
    """Spend the same time on an unknown username as on a wrong password."""
    _hasher.verify("x", _DUMMY_HASH)


_DUMMY_HASH = _hasher.hash("gridwatch-timing-equaliser")


# --- tokens ---------------------------------------------------------------------------------
# A token names a sign-in session (app/domain/people/sessions.py): it is only as good as that row,
# which logout, a password change or disabling the account end.
@dataclass(frozen=True)
class TokenClaims:
    person_id: int
    session_id: uuid.UUID


def create_access_token(
    *, person_id: int, session_id: uuid.UUID, issued_at: datetime, expires_at: datetime
) -> str:
    payload = {
        "sub": str(person_id),
        "sid": str(session_id),
        "iat": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    return jwt.encode(payload, signing_key(), algorithm=ALGORITHM)


def read_access_token(token: str) -> TokenClaims | None:
    """The claims of a token signed with our secret, carrying sub, sid, iat and exp, not
    expired (by app.clock) nor issued in the future; None for anything else."""
    try:
        payload = jwt.decode(
            token,
            signing_key(),
            algorithms=[ALGORITHM],
            options={
                "require": ["sub", "sid", "iat", "exp"],
                # Times are checked below against the server's one clock.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
        now = clock.now().timestamp()
        issued, expires = float(payload["iat"]), float(payload["exp"])
        if expires <= now or issued > now + CLOCK_SKEW.total_seconds():
            return None
        return TokenClaims(int(payload["sub"]), uuid.UUID(str(payload["sid"])))
    except (jwt.InvalidTokenError, KeyError, ValueError, TypeError):
        return None


# --- keyed hashes ---------------------------------------------------------------------------
def keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` under the signing secret, separated by `purpose`."""
    message = f"{purpose}\n{value}".encode()
    return hmac.new(signing_key(), message, hashlib.sha256).hexdigest()


# --- browser sessions ----------------------------------------------------------------------
# Pages use an HttpOnly session cookie holding the same signed token as the bearer flow. Writes
# authenticated by that cookie must also carry X-CSRF-Token: an HMAC of the session token,
# which the page gets in its HTML (and the CSRF cookie) but another site cannot forge.
# Over HTTPS both cookies carry the `__Host-` prefix: the browser then only accepts them from
# this very host, Secure, Path=/, without Domain — a sibling host or a plain-HTTP page on the
# same host cannot plant ("toss") a session cookie of its choosing.
SESSION_COOKIE = "gw_session"
CSRF_COOKIE = "gw_csrf"
HOST_PREFIX = "__Host-"
CSRF_HEADER = "X-CSRF-Token"


def session_cookie_name(secure: bool) -> str:
    return HOST_PREFIX + SESSION_COOKIE if secure else SESSION_COOKIE


def csrf_cookie_name(secure: bool) -> str:
    return HOST_PREFIX + CSRF_COOKIE if secure else CSRF_COOKIE


def csrf_token_for(session_token: str) -> str:
    return keyed_hash("csrf", session_token)[:40]


def csrf_ok(session_token: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(csrf_token_for(session_token), presented)
