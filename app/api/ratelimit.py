"""Per-address limits for routes that anyone may call: sign-in attempts, Open311 POSTs and
wrong Open311 keys. Counted in PostgreSQL (app/domain/people/limits.py), so that every server
process shares them.

The client address is the connection's peer — or, for a peer listed in
GRIDWATCH_TRUSTED_PROXIES, the address that proxy forwarded (app/api/proxies.py); nobody
else's X-Forwarded-For is believed."""

from __future__ import annotations

from fastapi import Request

from app.config import get_settings
from app.db import SessionDep
from app.domain.people import limits


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def throttle(request: Request, session: SessionDep) -> str:
    """Dependency for sign-in routes: the client's address, once it is within its limit
    (429 with Retry-After otherwise). The attempt is counted either way."""
    address = client_address(request)
    try:
        limits.count(
            session,
            limits.SIGN_IN,
            address,
            get_settings().login_attempts_per_minute,
            "sign-in attempts",
        )
    finally:
        session.commit()
    return address
