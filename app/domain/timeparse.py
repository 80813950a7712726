"""Instants from user input: ISO-8601 with an offset, or local time (Asia/Shanghai by
default) when the offset or the time of day is missing; and the range of instants the system
takes at all (the API and the importers alike)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.config import get_settings

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# The UTC offsets in use (PostgreSQL refuses those beyond ±15:59 outright).
OFFSETS = (timedelta(hours=-12), timedelta(hours=14))


def local_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def parse_instant(value: str) -> datetime:
    """Raises ValueError naming the bad value."""
    s = value.strip()
    try:
        if len(s) == 10:
            return datetime.combine(date.fromisoformat(s), time(0), tzinfo=local_zone())
        parsed = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 date or date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=local_zone())


def plausible_instant(value: datetime) -> datetime:
    """`value`, or ValueError saying why no patrol, duty or hotspot happens then."""
    # Bounded on both sides: a year-9999 time in a far-west offset would be stored but could
    # not be read back (it overflows Python's datetime in UTC).
    offset = value.utcoffset()
    if offset is not None and not OFFSETS[0] <= offset <= OFFSETS[1]:
        minutes = round(abs(offset).total_seconds() / 60)
        sign = "-" if offset < timedelta(0) else "+"
        raise ValueError(
            f"has the UTC offset {sign}{minutes // 60:02d}:{minutes % 60:02d}, which no place "
            "uses (-12:00 … +14:00)"
        )
    if not EARLIEST <= value < LATEST:
        raise ValueError("must lie between 2000-01-01 and 2100-01-01")
    return value


def parse_plausible_instant(value: str) -> datetime:
    """parse_instant, then plausible_instant; the ValueError names the value either way."""
    instant = parse_instant(value)
    try:
        return plausible_instant(instant)
    except ValueError as exc:
        raise ValueError(f"{value.strip()[:60]!r} {exc}") from None
