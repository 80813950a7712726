"""Request and response models for the pollution-source ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.reports import Crs, Instant, Lat, Lon

SourceType = Literal[
    "outfall",
    "scattered_polluter",
    "construction_site",
    "coal_boiler",
    "voc_enterprise",
    "fuel_station",
    "tailings_pond",
    "waste_dump",
    "open_bbq",
    "muck_truck_site",
]


class SourceIn(BaseModel):
    type: SourceType
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    lat: Lat
    lon: Lon
    crs: Crs = "wgs84"
    inspection_interval_hours: int | None = Field(default=None, ge=1, le=24 * 366)
    surveyed_at: Instant | None = None


class SourcePatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    lat: Lat | None = None
    lon: Lon | None = None
    crs: Crs = "wgs84"
    inspection_interval_hours: int | None = Field(default=None, ge=1, le=24 * 366)
    surveyed_at: Instant | None = None


class SourceOut(BaseModel):
    id: int
    type: str
    type_label: str
    name: str
    description: str | None
    lat: float
    lon: float
    cell_code: str | None
    surveyed_by: str | None
    surveyed_at: datetime | None
    inspection_interval_hours: int
    retired_at: datetime | None
