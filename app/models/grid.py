"""Grid cells: a tree from city down to the unit (leaf) cells that are patrolled (SPEC §2)."""

from __future__ import annotations

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
    Index,
    Integer,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, LTree, created_at_column

RISKS = ("high", "medium", "low")


class Cell(Base):
    __tablename__ = "cells"
    __table_args__ = (
        CheckConstraint("risk IN ('high', 'medium', 'low')", name="risk"),
        CheckConstraint("level >= 1", name="level"),
        CheckConstraint("patrol_interval_hours > 0", name="patrol_interval"),
        CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from", name="validity"
        ),
        Index("ix_cells_path", "path", postgresql_using="gist"),
        Index("ix_cells_leaf_geom", "geom", postgresql_using="gist", postgresql_where="is_leaf"),
        # A low-zoom tile's areas: one depth of the tree meeting a box (migration 0015).
        Index("ix_cells_depth_geom", text("nlevel(path)"), "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[int] = mapped_column(SmallInteger)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("cells.id"), index=True)
    # Maintained by a trigger (migration 0001): parent's path + own id. Subtree = `path <@ p`.
    path: Mapped[str] = mapped_column(LTree, server_default=FetchedValue(), nullable=False)
    # Maintained by a trigger: false as soon as a child cell exists.
    is_leaf: Mapped[bool] = mapped_column(Boolean, server_default="true")
    risk: Mapped[str] = mapped_column(Text, server_default="medium")
    patrol_interval_hours: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False
    )
    area_m2: Mapped[float] = mapped_column(Float, server_default=FetchedValue())
    created_at: Mapped[datetime] = created_at_column()

    parent: Mapped[Cell | None] = relationship(remote_side=[id], lazy="joined", join_depth=1)
