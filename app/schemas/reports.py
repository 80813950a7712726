"""Request and response models for reports, photos, track patrols and reviews."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from app.domain.reports.categories import check_category
from app.domain.timeparse import plausible_instant

Instant = Annotated[AwareDatetime, AfterValidator(plausible_instant)]
Category = Annotated[str | None, Field(max_length=64), AfterValidator(check_category)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Crs = Literal["wgs84", "gcj02", "bd09"]


class Shown(BaseModel):
    """An answer read from a stored row: every field the row has by the same name, the rest
    given. Adding a stored field to an answer is then one edit, here in the schema."""

    @classmethod
    def of(cls, row: object, **rest: Any) -> Self:
        own = {name: getattr(row, name) for name in cls.model_fields.keys() - rest.keys()}
        return cls(**own, **rest)


class ReportIn(BaseModel):
    id: uuid.UUID = Field(description="chosen by the client; re-sends are idempotent")
    lat: Lat
    lon: Lon
    crs: Crs = "wgs84"
    accuracy_m: float | None = Field(default=None, ge=0, le=1e6, allow_inf_nan=False)
    observed_at: Instant = Field(description="device time, ISO-8601 with offset")
    kind: Literal["patrol", "issue"]
    category: Category = None
    description: str | None = Field(default=None, max_length=4000)
    source_id: int | None = Field(default=None, ge=1, le=2**62)


class ReportOut(Shown):
    """A report as stored (or as intake inserted it), with its cell's code, its reporter's
    username and its photos."""

    id: uuid.UUID
    cell_code: str | None
    counted: bool
    flags: list[str]
    observed_at: datetime
    received_at: datetime
    kind: str
    category: str | None
    description: str | None
    lat: float
    lon: float
    accuracy_m: float | None
    reporter: str
    review_status: str | None
    photos: list[uuid.UUID] = []


class BatchItemOut(BaseModel):
    index: int
    id: str | None
    status: int
    report: ReportOut | None = None
    detail: object | None = None


class BatchOut(BaseModel):
    results: list[BatchItemOut]


class ReviewIn(BaseModel):
    decision: Literal["accept", "reject"]
    note: str | None = Field(default=None, max_length=4000)


class PhotoOut(Shown):
    id: uuid.UUID
    report_id: uuid.UUID
    sha256: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    exif_lat: float | None
    exif_lon: float | None
    exif_taken_at: str | None
    # The report's verdict once this photo is on it (a photo can add duplicate_photo or
    # exif_mismatch, which void a report the intake answer had counted).
    report_flags: list[str]
    report_counted: bool
    url: str  # the original, byte-for-byte as uploaded
    display_url: str  # the derived display-size JPEG that pages show


class TrackIn(BaseModel):
    id: uuid.UUID
    started_at: Instant
    ended_at: Instant
    track: TrackGeometry
    times: list[Instant] | None = Field(default=None, max_length=20_000)
    crs: Crs = "wgs84"
    accuracy_m: float | None = Field(default=None, ge=0, le=1e6, allow_inf_nan=False)


class TrackGeometry(BaseModel):
    type: Literal["LineString"]
    coordinates: list[tuple[Lon, Lat]] = Field(min_length=2, max_length=20_000)


class TrackOut(Shown):
    id: uuid.UUID
    counted: bool
    flags: list[str]
    points: int
    counted_points: int
    cells: list[str]


TrackIn.model_rebuild()
