"""Sign-in attempts per client address: a sliding one-minute window, in this process.

With several server processes each keeps its own window (the account lockout in
app/domain/signin.py is in the database and holds across them). Behind a reverse proxy, run
uvicorn with --proxy-headers and --forwarded-allow-ips so the client address is the real one."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from fastapi import HTTPException, Request

from app.config import get_settings

WINDOW_S = 60.0


class Throttle:
    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        """Count one attempt; 429 with Retry-After when the address is over its limit."""
        limit = get_settings().login_attempts_per_minute
        now = time.monotonic()
        with self._lock:
            hits = self._hits[address]
            while hits and hits[0] <= now - WINDOW_S:
                hits.popleft()
            if len(hits) >= limit:
                retry = max(1, int(hits[0] + WINDOW_S - now) + 1)
                raise HTTPException(
                    429,
                    detail=f"too many sign-in attempts from {address}; try again in {retry} s",
                    headers={"Retry-After": str(retry)},
                )
            hits.append(now)
            if len(self._hits) > 100_000:  # forget idle addresses rather than grow forever
                for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - WINDOW_S]:
                    del self._hits[key]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def throttle(request: Request) -> str:
    """Dependency for sign-in routes: the client's address, once it is within its limit."""
    address = client_address(request)
    request.app.state.signin_throttle.check(address)
    return address
