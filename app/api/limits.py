"""Request-size limits, enforced while the body is read and before any route or sign-in work
(issue: a 20 MB body used to be read in full before the 401).

An ASGI middleware: a declared Content-Length over the route's limit is refused at once; a
streamed (chunked) body is counted as it arrives and refused as soon as it passes the limit —
the route then sees the end of the body and its answer is replaced by the 413."""

from __future__ import annotations

import re

import orjson

from app.api.headers import ASGIApp, Message, Receive, Scope, Send
from app.config import Settings, get_settings

MULTIPART_OVERHEAD = 1024 * 1024  # boundaries and part headers around one photo
PHOTO_ROUTE = re.compile(r"^/api/v1/reports/[^/]+/photos/?$")
BULK_ROUTES = ("/api/v1/reports/batch", "/api/v1/patrols")
IMPORT_ROUTES = ("/api/v1/imports", "/api/v1/imports/preview")
VERIFY_ROUTE = "/api/v1/exports/verify"
WITHOUT_BODY = {"GET", "HEAD", "OPTIONS", "DELETE"}


def limit_for(path: str, settings: Settings) -> int:
    """The largest body, in bytes, the route at `path` accepts."""
    if PHOTO_ROUTE.match(path):
        return settings.photo_max_bytes + MULTIPART_OVERHEAD
    if path.rstrip("/") in BULK_ROUTES:
        return settings.bulk_body_max_bytes
    if path.rstrip("/") in IMPORT_ROUTES:  # a grid file or a roster, with multipart framing
        return settings.import_max_bytes + MULTIPART_OVERHEAD
    if path.rstrip("/") == VERIFY_ROUTE:  # an exported file handed back to be checked
        return settings.export_verify_max_bytes + MULTIPART_OVERHEAD
    return settings.body_max_bytes


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in WITHOUT_BODY:
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"], get_settings())
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, limit)
            return
        seen = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # the 413 below answers instead
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = orjson.dumps(
        {"detail": f"request body too large: at most {limit // 1024:,} KiB for this address"}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
