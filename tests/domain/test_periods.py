"""Ranking periods: a month in local time, the last complete one, the period before."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from app.domain.errors import DomainError
from app.domain.rankings.period import last_complete_month, month_bounds, previous_period

LOCAL = ZoneInfo("Asia/Shanghai")


def test_the_last_complete_month_is_in_local_time() -> None:
    # 1 March 01:00 in Shanghai is still February in UTC: the last complete month is February.
    start, end = last_complete_month(datetime(2026, 3, 1, 1, 0, tzinfo=LOCAL))
    assert (start, end) == (datetime(2026, 2, 1, tzinfo=LOCAL), datetime(2026, 3, 1, tzinfo=LOCAL))
    january = last_complete_month(datetime(2026, 2, 10, tzinfo=LOCAL))
    assert january[0] == datetime(2026, 1, 1, tzinfo=LOCAL)
    december = last_complete_month(datetime(2026, 1, 5, tzinfo=LOCAL))
    assert december == (datetime(2025, 12, 1, tzinfo=LOCAL), datetime(2026, 1, 1, tzinfo=LOCAL))


def test_months_compare_with_as_many_months_before_and_ranges_with_the_same_span() -> None:
    march = month_bounds("2026-03")
    assert previous_period(*march) == (
        datetime(2026, 2, 1, tzinfo=LOCAL),
        datetime(2026, 3, 1, tzinfo=LOCAL),
    )
    quarter = (datetime(2026, 1, 1, tzinfo=LOCAL), datetime(2026, 4, 1, tzinfo=LOCAL))
    assert previous_period(*quarter)[0] == datetime(2025, 10, 1, tzinfo=LOCAL)
    ten_days = (datetime(2026, 3, 5, tzinfo=LOCAL), datetime(2026, 3, 15, tzinfo=LOCAL))
    assert previous_period(*ten_days) == (datetime(2026, 2, 23, tzinfo=LOCAL), ten_days[0])


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-01", "1999-12", "march"])
def test_a_malformed_month_is_refused_by_name(bad: str) -> None:
    with pytest.raises(DomainError, match="month"):
        month_bounds(bad)
