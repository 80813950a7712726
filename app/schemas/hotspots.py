"""Request and response models for hotspots and their steps."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from app.domain.reports.categories import check_category
from app.schemas.reports import Crs, Instant, Lat, Lon


class HotspotIn(BaseModel):
    id: uuid.UUID | None = Field(default=None, description="optional client id: idempotent")
    lat: Lat
    lon: Lon
    crs: Crs = "wgs84"
    category: Annotated[str, Field(max_length=64), AfterValidator(check_category)]
    description: str = Field(min_length=1, max_length=4000)
    source: Literal["patrol", "complaint", "inspection", "fire_point", "monitoring"]
    found_at: Instant | None = None
    report_id: uuid.UUID | None = None


class TransitionIn(BaseModel):
    to: str = Field(max_length=32, description="the next status, or `extend` for a new deadline")
    note: str | None = Field(default=None, max_length=4000)
    assignee: str | None = Field(default=None, max_length=64, description="username")
    deadline: Instant | None = None
    reason: str | None = Field(default=None, max_length=64)
    evidence_report_id: uuid.UUID | None = None
    seen_status: str | None = Field(
        default=None,
        alias="from",
        max_length=32,
        description="the status the client saw: if the case has moved on, 409 and no change",
    )
    if_unchanged_since: datetime | None = Field(
        default=None,
        description="the case's `updated_at` the client saw: if it changed since, 409",
    )


class HotspotOut(BaseModel):
    id: uuid.UUID
    cell_code: str | None
    status: str
    source: str
    category: str
    description: str
    lat: float
    lon: float
    found_at: datetime
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    assignee: str | None
    assignee_name: str | None = None
    deadline: datetime | None
    overdue: bool
    extensions: int
    reworks: int
    reopens: int
    missed_by_grid: bool
    report_id: uuid.UUID | None
    evidence_report_id: uuid.UUID | None
    closed_at: datetime | None
    allowed_steps: list[str]


class EventOut(BaseModel):
    at: datetime
    actor: str
    action: Literal["create", "transition", "extend"]
    from_status: str | None
    to_status: str
    note: str | None
    assignee: str | None
    deadline: datetime | None
    reason: str | None
    evidence_report_id: uuid.UUID | None


class HotspotDetail(HotspotOut):
    history: list[EventOut]
    allowed_actions: list[str] | None = Field(
        default=None,
        description="the steps (`to` values, `extend` included) the reader may take now",
    )
