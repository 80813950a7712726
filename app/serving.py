"""How uvicorn serves gridwatch (`gridwatch serve`), the app served from a background thread
on a free loopback port with the same options, and how to start Debian's Chromium — for
browser tests and the map benchmark, which need both next to their own code."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

# Debian's Chromium, never a downloaded browser; without the background-networking flags it
# keeps trying to reach Google, which this network refuses.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def server_options(host: str, port: int) -> dict[str, Any]:
    """uvicorn's options for gridwatch. Forwarded headers are the app's business
    (app/api/proxies.py, from GRIDWATCH_TRUSTED_PROXIES only): uvicorn's own handling is off,
    since by default it believes any process on the machine. No `server` header (it names
    the software to whoever probes for it)."""
    return {"host": host, "port": port, "proxy_headers": False, "server_header": False}


@contextmanager
def serve_in_thread(app: FastAPI, startup_seconds: float = 30) -> Iterator[str]:
    """Yields the base URL (http://127.0.0.1:PORT) while the server runs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, **server_options("127.0.0.1", port), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_seconds
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
