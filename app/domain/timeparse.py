"""Instants from user input: ISO-8601 with an offset, or local time (Asia/Shanghai by
default) when the offset or the time of day is missing."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from app.config import get_settings


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
