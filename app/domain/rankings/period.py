"""Periods of a ranking: a month in local time, the last complete one, and the period before."""

from __future__ import annotations

import re
from datetime import date, datetime, time

from app.domain.errors import DomainError
from app.domain.timeparse import local_zone

MONTH = re.compile(r"(\d{4})-(\d{2})")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=local_zone())


def _shift(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """`YYYY-MM` → [first local midnight of the month, first of the next)."""
    found = MONTH.fullmatch(month.strip())
    if not found or not 1 <= int(found[2]) <= 12 or not 2000 <= int(found[1]) < 2100:
        raise DomainError(f"month must be YYYY-MM between 2000-01 and 2099-12, not {month!r}")
    first = date(int(found[1]), int(found[2]), 1)
    return _midnight(first), _midnight(_shift(first, 1))


def last_complete_month(now: datetime) -> tuple[datetime, datetime]:
    """The month before the one `now` falls in, in local time."""
    this = now.astimezone(local_zone()).date().replace(day=1)
    return _midnight(_shift(this, -1)), _midnight(this)


def whole_months(start: datetime, end: datetime) -> int:
    """How many calendar months [start, end) spans exactly in local time; 0 if it does not."""
    zone = local_zone()
    a, b = start.astimezone(zone), end.astimezone(zone)
    if a.time() != time(0) or b.time() != time(0) or a.day != 1 or b.day != 1:
        return 0
    return max(0, (b.year * 12 + b.month) - (a.year * 12 + a.month))


def previous_period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The period just before [start, end) of the same length: as many calendar months when the
    period is whole months (October after September), else the same span of time."""
    months = whole_months(start, end)
    if months:
        first = start.astimezone(local_zone()).date()
        return _midnight(_shift(first, -months)), start
    return start - (end - start), start
