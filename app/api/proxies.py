"""Forwarded headers, believed only from GRIDWATCH_TRUSTED_PROXIES.

Behind a reverse proxy the connection's peer is the proxy; the client's address and scheme
come in X-Forwarded-For and X-Forwarded-Proto. Anyone can send those headers, so they are
read only when the peer is a listed proxy (addresses or CIDR networks; default: none, and
then the peer is the client). The parsing is uvicorn's own middleware, given our list:
`gridwatch serve` turns uvicorn's built-in handling off, which would otherwise trust every
local process (its default list is 127.0.0.1)."""

from __future__ import annotations

from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.config import get_settings


class TrustedProxies:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._for: tuple[str, ProxyHeadersMiddleware] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        settings = get_settings()
        if scope["type"] not in ("http", "websocket") or not settings.trusted_proxy_list:
            await self.app(scope, receive, send)
            return
        if self._for is None or self._for[0] != settings.trusted_proxies:
            handler = ProxyHeadersMiddleware(self.app, trusted_hosts=settings.trusted_proxy_list)
            self._for = (settings.trusted_proxies, handler)
        await self._for[1](scope, receive, send)
