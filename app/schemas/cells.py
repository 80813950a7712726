"""Response models for cells and their duty roster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class DutyOut(BaseModel):
    duty: str
    username: str
    name: str
    phone: str | None
    valid_from: datetime | None
    valid_to: datetime | None


class CellOut(BaseModel):
    code: str
    name: str
    level: int
    parent_code: str | None
    is_leaf: bool
    risk: str
    patrol_interval_hours: int
    valid_from: datetime | None
    valid_to: datetime | None
    area_m2: float


class CellDetail(CellOut):
    children: int
    roster: list[DutyOut]
    geometry: dict[str, Any]


class CellPage(BaseModel):
    total: int
    offset: int
    limit: int
    next_offset: int | None
    cells: list[CellOut]


class CellAtPoint(BaseModel):
    code: str
    name: str
