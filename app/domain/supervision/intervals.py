"""Half-open time intervals [start, end): merging and clipping, for lapse periods."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

Interval = tuple[datetime, datetime]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Maximal intervals covering the same instants (touching ones join)."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def clip(interval: Interval, lo: datetime, hi: datetime) -> Interval | None:
    start, end = max(interval[0], lo), min(interval[1], hi)
    return (start, end) if start < end else None


def overlap(a_start: datetime | None, a_end: datetime | None, b: Interval) -> Interval | None:
    """[a_start, a_end) (None = unbounded) intersected with b."""
    start = b[0] if a_start is None else max(a_start, b[0])
    end = b[1] if a_end is None else min(a_end, b[1])
    return (start, end) if start < end else None
