"""The test suite's clock. Tests never read the calendar: the server's "now" (app/clock.py) is
Python's clock, which time-machine moves, and the database follows it through the session
setting gridwatch.clock_offset that `gridwatch_now()` adds to now() (migration 0006).

`GRIDWATCH_TEST_NOW` moves the whole run: an ISO-8601 instant, or `+365d` / `-30d` relative
to the real date, e.g. `GRIDWATCH_TEST_NOW=+365d make pytest` runs the suite a year ahead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import Connection, Engine, event

ENV = "GRIDWATCH_TEST_NOW"


def real_now() -> datetime:
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.datetime.datetime.now(UTC)
    return datetime.now(UTC)


def offset() -> timedelta:
    """How far the (possibly travelling) Python clock is from the real one."""
    if not time_machine.escape_hatch.is_travelling():
        return timedelta(0)
    return datetime.now(UTC) - real_now()


def destination(spec: str | None = None) -> datetime | None:
    """The instant the run starts at, from GRIDWATCH_TEST_NOW (None: the real clock)."""
    spec = (spec if spec is not None else os.environ.get(ENV, "")).strip()
    if not spec:
        return None
    relative = re.fullmatch(r"([+-]\d+)d", spec)
    if relative:
        return real_now() + timedelta(days=int(relative.group(1)))
    at = datetime.fromisoformat(spec)
    if at.tzinfo is None:
        raise ValueError(f"{ENV}={spec!r} needs a time-zone offset")
    return at


def _follow_python_clock(conn: Connection) -> None:
    """At every transaction's start, tell the database how far the test clock is from the
    real one (for that transaction only) — so a connection held across a
    `time_machine.move_to` follows the move too. Nothing to say while the clock is real."""
    seconds = round(offset().total_seconds())
    if seconds:
        with conn.connection.dbapi_connection.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(
                "SELECT set_config('gridwatch.clock_offset', %s, true)", (f"{seconds} seconds",)
            )


def install_database_follower() -> None:
    if not event.contains(Engine, "begin", _follow_python_clock):
        event.listen(Engine, "begin", _follow_python_clock)


@contextmanager
def at_a_minutes_start() -> Iterator[datetime]:
    """Travel (ticking) to the top of the next minute. Per-address limits count per calendar
    minute (app/domain/people/limits.py): a test that counts up to one starts here, so a slow
    machine's requests cannot straddle two windows."""
    from app import clock as app_clock

    top = app_clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(top, tick=True):
        yield top
