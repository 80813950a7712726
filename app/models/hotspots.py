"""Hotspots (问题/案件): problems that must be fixed by a deadline, verified and closed, with
every step recorded (SPEC §4)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column
from app.rules import RUNNING_DEADLINE, STATUSES, sql_in

SOURCES = ("patrol", "complaint", "inspection", "fire_point", "monitoring")


class Hotspot(Base):
    __tablename__ = "hotspots"
    __table_args__ = (
        CheckConstraint(sql_in("source", SOURCES), name="source"),
        CheckConstraint(sql_in("status", STATUSES), name="status"),
        Index("ix_hotspots_cell_id_status", "cell_id", "status"),
        Index(
            "ix_hotspots_running_deadline",
            "cell_id",
            "deadline",
            postgresql_where=sql_in("status", RUNNING_DEADLINE),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("cells.id"))
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    category: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    report_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("report_keys.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    channel: Mapped[str | None] = mapped_column(Text)  # e.g. an Open311 client
    contact: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # never shown publicly
    status: Mapped[str] = mapped_column(Text, server_default="reported")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    extensions: Mapped[int] = mapped_column(Integer, server_default="0")
    reworks: Mapped[int] = mapped_column(Integer, server_default="0")
    reopens: Mapped[int] = mapped_column(Integer, server_default="0")
    rectified_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    rectified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    evidence_report_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("report_keys.id"))
    missed_by_grid: Mapped[bool] = mapped_column(Boolean, server_default="false")
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    body_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class HotspotEvent(Base):
    """One step of a hotspot's life: who, when, from which status to which, and why."""

    __tablename__ = "hotspot_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hotspot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hotspots.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    actor_label: Mapped[str] = mapped_column(Text)  # username, or the channel for Open311
    action: Mapped[str] = mapped_column(Text)  # create | transition | extend
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    evidence_report_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("report_keys.id"))
