"""The outermost middleware: each request's id, its access log line and its latency.

The request id is the X-Request-ID header when the connection's peer is one of
GRIDWATCH_TRUSTED_PROXIES (a proxy that sets it) and the value is a plain token (at most 128
letters, digits, `.`, `_`, `:`, `-`); otherwise a new one. It is echoed in the answer's
X-Request-ID and carried by every log line written while the request is answered
(app/logs.py). Latency is counted by route template (`/api/v1/reports/{report_id}`), never by
raw path; a path no route matches counts as `unmatched`.

Kept cheap, since report ingest goes through it: a plain ASGI wrapper (no per-request task),
one clock read at each end, one histogram observation, one log record."""

from __future__ import annotations

import logging
import re
import uuid
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from time import perf_counter
from typing import Any

from app.api.metrics import REQUEST_SECONDS
from app.config import get_settings
from app.logs import REQUEST_ID

access = logging.getLogger("gridwatch.access")
HEADER = b"x-request-id"
_PLAIN = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@lru_cache(maxsize=4)
def _networks(trusted: str) -> tuple[IPv4Network | IPv6Network, ...]:
    # Keyed on the setting's text: a settings object changed in place is seen at once.
    return tuple(ip_network(item, strict=False) for item in trusted.split(",") if item.strip())


def _from_trusted_proxy(scope: dict[str, Any]) -> bool:
    trusted = get_settings().trusted_proxies
    client = scope.get("client")
    if not trusted or not client:
        return False
    try:
        peer = ip_address(client[0])
    except ValueError:
        return False
    return any(peer in network for network in _networks(trusted))


def _incoming_id(scope: dict[str, Any]) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            candidate = value.decode("latin-1")
            if _PLAIN.fullmatch(candidate) and _from_trusted_proxy(scope):
                return candidate
            return None
    return None


class Observe:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        status = 500  # if the app fails before it answers, the server answers 500
        echoed = (HEADER, request_id.encode())

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            REQUEST_SECONDS.labels(method, route, str(status)).observe(seconds)
            if access.isEnabledFor(logging.INFO):
                duration_ms = round(seconds * 1000, 2)
                access.info(
                    "%s %s %s %.1fms",
                    method,
                    route,
                    status,
                    duration_ms,
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": duration_ms,
                    },
                )
            REQUEST_ID.reset(token)
