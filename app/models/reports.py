"""Patrol reports, their photos, GPS-track patrols, and the counted-patrol history (SPEC §4–5)."""

from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    FetchedValue,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, LTree, created_at_column

KINDS = ("patrol", "issue")
# The voiding flags of SPEC §4: a report with any of them does not count unless a supervisor
# reviewed and accepted exactly those flags.
FLAGS = (
    "outside_cells",
    "not_on_duty",
    "low_accuracy",
    "future_time",
    "late_sync",
    "impossible_speed",
    "duplicate_photo",
    "exif_mismatch",
)


class ReportKey(Base):
    """Every report's id, unique across all months (migration 0013): `reports` is partitioned
    by month and its primary key is (id, observed_at), so intake claims the id here first,
    and what points at a report (photos, cell_visits, hotspots) points here."""

    __tablename__ = "report_keys"
    __table_args__ = (UniqueConstraint("id", "observed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Report(Base):
    """One partition per month of `observed_at` (app/sql/partitions.py); the ORM knows a
    report by its id alone, which report_keys keeps unique."""

    __tablename__ = "reports"
    __table_args__ = (
        ForeignKeyConstraint(["id", "observed_at"], ["report_keys.id", "report_keys.observed_at"]),
        CheckConstraint("kind IN ('patrol', 'issue')", name="kind"),
        CheckConstraint("review_status IN ('accepted', 'rejected')", name="review_status"),
        Index("ix_reports_cell_id_observed_at", "cell_id", "observed_at"),
        Index("ix_reports_reporter_id_observed_at", "reporter_id", "observed_at"),
        Index(
            "ix_reports_unreviewed",
            "cell_id",
            postgresql_where="NOT counted AND review_status IS NULL",
        ),
        {"postgresql_partition_by": "RANGE (observed_at)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # chosen by the client
    reporter_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("cells.id"))
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    lat: Mapped[float] = mapped_column(Float)  # WGS-84, after any gcj02/bd09 conversion
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    counted: Mapped[bool] = mapped_column(Boolean)
    # sha256 of the canonical request body: an identical re-send answers 200, another body 409.
    body_hash: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(Text, server_default="api")  # api | batch | import
    review_status: Mapped[str | None] = mapped_column(Text)
    accepted_flags: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str | None] = mapped_column(Text)

    __mapper_args__ = {"primary_key": [id]}


class Photo(Base):
    __tablename__ = "photos"
    __table_args__ = (UniqueConstraint("report_id", "sha256"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    report_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("report_keys.id"), index=True)
    sha256: Mapped[str] = mapped_column(Text, index=True)  # also the file name in the store
    content_type: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    exif_lat: Mapped[float | None] = mapped_column(Float)
    exif_lon: Mapped[float | None] = mapped_column(Float)
    exif_taken_at: Mapped[str | None] = mapped_column(Text)  # EXIF DateTimeOriginal, as written
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    uploaded_at: Mapped[datetime] = created_at_column()


class Patrol(Base):
    """A patrol with a GPS trace; its vertices inside cells count as presence there."""

    __tablename__ = "patrols"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # chosen by the client
    reporter_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    track: Mapped[WKBElement] = mapped_column(Geometry("LINESTRING", srid=4326))
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    counted: Mapped[bool] = mapped_column(Boolean)
    points: Mapped[int] = mapped_column(Integer)
    counted_points: Mapped[int] = mapped_column(Integer)
    body_hash: Mapped[str] = mapped_column(Text)


class CellVisit(Base):
    """The counted-patrol history: one row per counted report or counted track point. The gap
    and lapse engines read this (by `(cell_id, observed_at)`), never the raw reports. One
    partition per month of `observed_at` (app/sql/partitions.py)."""

    __tablename__ = "cell_visits"
    __table_args__ = (
        Index("ix_cell_visits_cell_id_observed_at", "cell_id", "observed_at"),
        Index("ix_cell_visits_person_id_observed_at", "person_id", "observed_at"),
        {"postgresql_partition_by": "RANGE (observed_at)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    cell_id: Mapped[int] = mapped_column(ForeignKey("cells.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    report_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("report_keys.id"), index=True)
    patrol_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patrols.id"), index=True)

    __mapper_args__ = {"primary_key": [id]}


class CellStatus(Base):
    """Per-cell summary kept current in the same transaction as every write that changes it."""

    __tablename__ = "cell_status"

    cell_id: Mapped[int] = mapped_column(ForeignKey("cells.id"), primary_key=True)
    last_patrol_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_patrol_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    open_hotspots: Mapped[int] = mapped_column(Integer, server_default="0")
    # Deadlines of the open hotspots whose deadline is running (dispatched/rectifying), sorted.
    # The overdue count at any instant T is how many lie before T, read from this row alone;
    # next_deadline (the first) lets "which cells are overdue now" use an index.
    running_deadlines: Mapped[list[datetime]] = mapped_column(
        ARRAY(DateTime(timezone=True)), server_default="{}"
    )
    next_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # The rest is kept by database triggers (app/sql/trg_*.sql), whatever writes duties,
    # hotspots or patrols: staffing as of the last duty change, valid until staff_until (NULL: no
    # change ahead), and when each missed problem of the cell stops counting.
    has_leader: Mapped[bool | None] = mapped_column(Boolean, server_default=FetchedValue())
    has_member: Mapped[bool | None] = mapped_column(Boolean, server_default=FetchedValue())
    staff_until: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=FetchedValue()
    )
    missed_until: Mapped[list[datetime]] = mapped_column(
        ARRAY(DateTime(timezone=True)), server_default="{}"
    )
    updated_at: Mapped[datetime] = created_at_column()


def _instants() -> Mapped[list[datetime]]:
    return mapped_column(ARRAY(DateTime(timezone=True)), server_default="{}", nullable=False)


class CellRollup(Base):
    """Per-parent roll-up of the leaf summaries (app/sql/fn_refresh_rollup.sql), kept by the
    triggers of app/sql/trg_rollup.sql at each commit: counts, and sorted instants from which
    the number of leaves with each gap reason at any instant is read by binary search.
    parent_id 0 stands for the leaves without a parent."""

    __tablename__ = "cell_rollup"
    __table_args__ = (Index("ix_cell_rollup_path", "path", postgresql_using="gist"),)

    parent_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    path: Mapped[str] = mapped_column(LTree, nullable=False)  # the parent's (cells.path)
    leaf_cells: Mapped[int] = mapped_column(Integer, nullable=False)
    never_patrolled: Mapped[int] = mapped_column(Integer, nullable=False)
    patrolled: Mapped[int] = mapped_column(Integer, nullable=False)
    open_hotspot: Mapped[int] = mapped_column(Integer, nullable=False)
    unstaffed: Mapped[int] = mapped_column(Integer, nullable=False)
    unpatrolled_at: Mapped[list[datetime]] = _instants()
    overdue_at: Mapped[list[datetime]] = _instants()
    uninspected_at: Mapped[list[datetime]] = _instants()
    missed_until: Mapped[list[datetime]] = _instants()
    clear_from: Mapped[list[datetime]] = _instants()
    clear_until: Mapped[list[datetime]] = _instants()
    exact_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    exact_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = created_at_column()


class CellOutline(Base):
    """A parent cell's outline for the map's low zooms: Web Mercator, simplified to a tile
    pixel at the deepest zoom of its band (app/sql/fn_refresh_rollup.sql), kept by the cell
    triggers of app/sql/trg_rollup.sql."""

    __tablename__ = "cell_outlines"

    cell_id: Mapped[int] = mapped_column(
        ForeignKey("cells.id", ondelete="CASCADE"), primary_key=True
    )
    band: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry(srid=3857, spatial_index=False), nullable=False
    )


class CellRollupDirty(Base):
    """Parents whose roll-up this transaction moved; emptied at its commit (never visible to
    another transaction)."""

    __tablename__ = "cell_rollup_dirty"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    parent_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
