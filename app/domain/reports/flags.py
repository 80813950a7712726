"""What makes a report count (SPEC §4): the voiding flags, the speed between two reports, the
fingerprint that tells a re-send from a different body under the same id. Pure rules."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.config import get_settings
from app.domain.fingerprint import fingerprint

__all__ = [
    "counts",
    "fingerprint",
    "latest_observed_at",
    "speed_kmh",
    "timing_flags",
    "voiding_flags",
]


def counts(flags: list[str], accepted_flags: list[str] | None, cell_id: int | None) -> bool:
    """A report counts when it has no voiding flag, or a supervisor accepted exactly the flags
    it has now (a flag that appears after the review voids it again)."""
    if cell_id is None:
        return False
    return not flags or (accepted_flags is not None and set(flags) <= set(accepted_flags))


def speed_kmh(metres: float, seconds: float) -> float:
    return metres / max(seconds, 1.0) * 3.6


def latest_observed_at(received_at: datetime) -> datetime:
    """The latest observation time a report received at `received_at` may claim; later is
    `future_time`."""
    return received_at + timedelta(minutes=get_settings().future_tolerance_minutes)


def timing_flags(observed_at: datetime, received_at: datetime, late_sync: bool) -> list[str]:
    settings = get_settings()
    flags = []
    if observed_at > latest_observed_at(received_at):
        flags.append("future_time")
    if late_sync and received_at - observed_at > timedelta(days=settings.late_sync_days):
        flags.append("late_sync")
    return flags


def voiding_flags(
    *,
    cell_id: int | None,
    on_duty: bool,
    accuracy_m: float | None,
    observed_at: datetime,
    received_at: datetime,
    late_sync: bool,
    previous: tuple[datetime, float] | None,
) -> list[str]:
    """SPEC §4's flags known at intake; `previous` is the reporter's previous counted patrol
    (when, and how many metres from this report)."""
    settings = get_settings()
    flags: list[str] = []
    if cell_id is None:
        flags.append("outside_cells")
    elif not on_duty:
        flags.append("not_on_duty")
    if accuracy_m is not None and accuracy_m > settings.max_accuracy_m:
        flags.append("low_accuracy")
    flags += timing_flags(observed_at, received_at, late_sync)
    if previous is not None:
        seconds = (observed_at - previous[0]).total_seconds()
        if speed_kmh(previous[1], seconds) > settings.max_speed_kmh:
            flags.append("impossible_speed")
    return flags
