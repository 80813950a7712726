"""Security headers on every response, and a Content-Security-Policy that gridwatch's own
pages satisfy: scripts only from gridwatch itself plus the exact inline scripts of the page
(by SHA-256), no framing, no plugins, requests only to this server (and the basemap's tiles).

An ASGI middleware (not BaseHTTPMiddleware): it buffers HTML pages only, to hash their inline
scripts; everything else — exports, tiles, photos — streams through untouched."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from app.config import Settings, get_settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Inline <script> elements without src whose type is JavaScript (data blocks such as
# type="application/json" are never executed, so CSP does not govern them).
INLINE_SCRIPT = re.compile(
    rb"<script(?![^>]*\bsrc=)(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.DOTALL | re.IGNORECASE
)
DATA_TYPE = re.compile(rb"""\btype=["']?application/(ld\+)?json""", re.IGNORECASE)

COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"geolocation=(self), camera=(self), microphone=()"),
]
API_CSP = "default-src 'none'; frame-ancestors 'none'"
SAFE_HOST = re.compile(r"(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?")


def tile_sources(settings: Settings) -> list[str]:
    """CSP sources for the configured basemap's tiles ({s} subdomains become a wildcard)."""
    kind = settings.basemap.strip()
    if kind in ("", "none"):
        return []
    if kind == "osm":
        return ["https://tile.openstreetmap.org"]
    if kind == "tianditu":
        return ["https://*.tianditu.gov.cn"]
    parts = urlsplit(kind)
    labels = parts.netloc.split(".")
    # {s} may only stand in the first label: CSP allows a wildcard there and nowhere else.
    if labels and "{s}" in labels[0]:
        labels[0] = "*"
    host = ".".join(labels)
    if parts.scheme not in ("http", "https") or not SAFE_HOST.fullmatch(host):
        return []  # no basemap rather than a broken or injected policy; the map still works
    return [f"{parts.scheme}://{host}"]


def page_csp(html: bytes, settings: Settings) -> str:
    hashes = sorted(
        {
            "'sha256-" + base64.b64encode(hashlib.sha256(m["body"]).digest()).decode() + "'"
            for m in INLINE_SCRIPT.finditer(html)
            if not DATA_TYPE.search(m["attrs"])
        }
    )
    images = " ".join(["'self'", "data:", "blob:", *tile_sources(settings)])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src " + " ".join(["'self'", *hashes]),
            # Leaflet and folium position map panes with inline styles.
            "style-src 'self' 'unsafe-inline'",
            f"img-src {images}",
            "connect-src 'self'",
            "worker-src 'self'",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def worker_csp(settings: Settings) -> str:
    images = " ".join(["'self'", "data:", "blob:", *tile_sources(settings)])
    return f"default-src 'self'; img-src {images}; object-src 'none'; frame-ancestors 'none'"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = bytearray()

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if ctype.startswith(b"text/html"):
                    start = message  # hold until the body is known
                    return
                # A worker's CSP is the one its script came with: the phone app's service
                # worker fetches from this server and caches tiles.
                script = b"javascript" in ctype
                await send(
                    _with_headers(message, worker_csp(get_settings()) if script else API_CSP)
                )
                return
            if start is None:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            csp = page_csp(bytes(body), get_settings())
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send(_with_headers({**start, "headers": headers}, csp))
            await send({"type": "http.response.body", "body": bytes(body)})

        await self.app(scope, receive, wrapped)


def _with_headers(message: Message, csp: str) -> Message:
    headers = [
        (k, v)
        for k, v in message.get("headers", [])
        if k.lower() not in {name for name, _ in COMMON} | {b"content-security-policy"}
    ]
    headers += COMMON
    headers.append((b"content-security-policy", csp.encode()))
    return {**message, "headers": headers}
