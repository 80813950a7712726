"""A real HTTP receiver for webhook tests: a stdlib HTTP server on a loopback port, in a
thread, recording every POST; and a "hanging" stand-in for it (a socket that accepts
connections and never answers), for a receiver that is down without refusing."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        time.sleep(self.server.delay)
        if self.server.on_post is not None:
            self.server.on_post()
        length = int(self.headers.get("Content-Length") or 0)
        parts = urlsplit(self.path)
        self.server.received.append(
            Received(
                path=parts.path,
                query={k: v[0] for k, v in parse_qs(parts.query).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
        )
        answer = b'{"errcode":0,"errmsg":"ok"}' if parts.path.startswith("/robot") else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, port: int = 0, delay: float = 0.0, on_post: Callable[[], None] | None = None
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.received: list[Received] = []
        self.delay = delay  # seconds before each answer: a slow receiver
        self.on_post = on_post  # called before each answer (its exception: no answer)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


def hanging_port() -> socket.socket:
    """A listening socket that never accepts: connections open, requests get no answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock
