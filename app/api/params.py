"""Query-parameter types shared by the read endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BeforeValidator

from app.domain.timeparse import parse_instant
from app.schemas.reports import _plausible


def _instant(value: Any) -> datetime:
    """ISO-8601; without an offset (or as a bare date) it is local time (GRIDWATCH_TIMEZONE)."""
    parsed = parse_instant(value) if isinstance(value, str) else value
    if not isinstance(parsed, datetime):
        raise ValueError("expected an ISO-8601 date or date-time")
    return _plausible(parsed)


Instant = Annotated[datetime, BeforeValidator(_instant)]
Within = Annotated[str | None, Query(max_length=64, description="a cell code: only its subtree")]
AsOf = Annotated[
    Instant | None,
    Query(description="ISO-8601; local time without an offset; default now"),
]
