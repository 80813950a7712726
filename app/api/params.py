"""Query-parameter types shared by the read endpoints."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import HTTPException, Query
from pydantic import BeforeValidator
from sqlalchemy import Select
from sqlalchemy.orm import Session

from app.domain.timeparse import parse_instant
from app.schemas.reports import plausible_instant


def _instant(value: Any) -> datetime:
    """ISO-8601; without an offset (or as a bare date) it is local time (GRIDWATCH_TIMEZONE)."""
    parsed = parse_instant(value) if isinstance(value, str) else value
    if not isinstance(parsed, datetime):
        raise ValueError("expected an ISO-8601 date or date-time")
    return plausible_instant(parsed)


Instant = Annotated[datetime, BeforeValidator(_instant)]
Within = Annotated[str | None, Query(max_length=64, description="a cell code: only its subtree")]
AsOf = Annotated[
    Instant | None,
    Query(description="ISO-8601; local time without an offset; default now"),
]


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """`minlon,minlat,maxlon,maxlat` in WGS-84; 422 naming what is wrong."""
    if value is None:
        return None
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or not all(map(math.isfinite, parts)):
        raise HTTPException(422, detail="bbox must be four numbers: minlon,minlat,maxlon,maxlat")
    minx, miny, maxx, maxy = parts
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise HTTPException(422, detail="bbox corners must be in order and on the globe")
    return minx, miny, maxx, maxy


Bbox = Annotated[
    str | None, Query(max_length=200, description="minlon,minlat,maxlon,maxlat (WGS-84)")
]


def page_of(
    session: Session, stmt: Select[Any], limit: int, offset: int
) -> tuple[list[Any], int | None]:
    """One page of an ordered query and the offset of the next page (None on the last):
    lists say what is left instead of truncating silently."""
    rows = list(session.scalars(stmt.limit(limit + 1).offset(offset)))
    return rows[:limit], (offset + limit if len(rows) > limit else None)
