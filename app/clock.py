"""The server's one clock. Every "now" the rules need (received_at, default instants, lockouts,
token times) comes from here, so tests move it with time-machine and nothing reads the wall
clock on its own. The database's idea of now follows it through `gridwatch_now()`."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, timezone-aware (UTC)."""
    return datetime.now(UTC)
