"""The pollution-source ledger (污染源台账, SPEC §4): who surveyed which source, where, when."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    FetchedValue,
    Float,
    ForeignKey,
    Integer,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column

SOURCE_TYPES = {
    "outfall": "排污口",
    "scattered_polluter": "散乱污企业",
    "construction_site": "工地",
    "coal_boiler": "燃煤锅炉",
    "voc_enterprise": "涉VOCs企业",
    "fuel_station": "加油站",
    "tailings_pond": "尾矿库",
    "waste_dump": "垃圾堆点",
    "open_bbq": "露天烧烤",
    "muck_truck_site": "渣土车场",
}

_TYPE_LIST = ", ".join(f"'{t}'" for t in SOURCE_TYPES)


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (
        CheckConstraint(f"type IN ({_TYPE_LIST})", name="type"),
        CheckConstraint("inspection_interval_hours > 0", name="inspection_interval"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    lat: Mapped[float] = mapped_column(Float)  # WGS-84, the same point as geom
    lon: Mapped[float] = mapped_column(Float)
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("cells.id"), index=True)
    # "谁排查谁画押": the person who surveyed the source signs for it.
    surveyed_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    surveyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    inspection_interval_hours: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The newest counted patrol within the source radius (app/rules.py), kept by database
    # triggers (app/sql/trg_cell_visits.sql, trg_sources.sql).
    inspected_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=FetchedValue(), server_onupdate=FetchedValue()
    )
