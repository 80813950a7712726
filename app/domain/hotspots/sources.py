"""The pollution-source ledger (台账): create, update, retire; the person who surveys a source
signs for it ("谁排查谁画押")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.domain import audit
from app.domain.errors import DomainError, Forbidden, Unprocessable
from app.domain.grid.cells import leaf_cell_at
from app.domain.grid.crs import point_to_wgs84
from app.domain.people.scope import Viewer, holds_duty, oversees
from app.models import Source
from app.models.sources import SOURCE_TYPES

# Default inspection interval by source type, in hours.
INSPECTION_HOURS = {
    "outfall": 72,
    "scattered_polluter": 168,
    "construction_site": 72,
    "coal_boiler": 168,
    "voc_enterprise": 168,
    "fuel_station": 336,
    "tailings_pond": 336,
    "waste_dump": 72,
    "open_bbq": 72,
    "muck_truck_site": 168,
}


# A source's ledger rules: how often it must be inspected and when (and by whom) it was
# surveyed. Relaxing them hides a source from the gaps, so only the command office (within its
# scope) and admins set them (SPEC §7); anyone else gets the type's interval and "now".
RULE_FIELDS = ("inspection_interval_hours", "surveyed_at")
RULE_SETTERS = ("command", "admin")
# Changing these re-surveys the source: whoever does it signs for it ("谁排查谁画押").
SURVEY_FIELDS = ("name", "description", "lat", "lon", "surveyed_at")


@dataclass(frozen=True)
class SourceData:
    type: str
    name: str
    lat: float
    lon: float
    crs: str = "wgs84"
    description: str | None = None
    inspection_interval_hours: int | None = None
    surveyed_at: datetime | None = None


def may_manage(session: Session, viewer: Viewer, cell_id: int | None) -> bool:
    """Surveyors on duty in the cell, or whoever oversees it."""
    if viewer.role == "discipline":
        return False
    if oversees(session, viewer, cell_id):
        return True
    return cell_id is not None and holds_duty(session, viewer.person_id, cell_id)


def check_rule_changes(
    session: Session, viewer: Viewer, cell_id: int | None, changes: dict[str, object]
) -> None:
    """Only the command office in scope and admins set ledger rules; and a survey is never
    dated in the future (beyond the tolerance reports get)."""
    named = [key for key in RULE_FIELDS if changes.get(key) is not None]
    if named and not (viewer.role in RULE_SETTERS and oversees(session, viewer, cell_id)):
        raise Forbidden(
            f"{', '.join(named)}: a source's ledger rules (inspection interval, survey) are "
            "set by the command office within its scope or an admin"
        )
    surveyed_at = changes.get("surveyed_at")
    tolerance = timedelta(minutes=get_settings().future_tolerance_minutes)
    if isinstance(surveyed_at, datetime) and surveyed_at > clock.now() + tolerance:
        raise Unprocessable(f"surveyed_at: {surveyed_at.isoformat()} lies in the future")


def _place(session: Session, source: Source, lon: float, lat: float, crs: str) -> None:
    """Set position (WGS-84) and the unit cell it lies in now."""
    if crs != "wgs84":
        lon, lat = point_to_wgs84(lon, lat, crs)
    found = leaf_cell_at(session, lon, lat, clock.now())
    source.lon, source.lat = lon, lat
    source.geom = f"SRID=4326;POINT({lon} {lat})"  # type: ignore[assignment]
    source.cell_id = found[0] if found else None


def create_source(session: Session, viewer: Viewer, data: SourceData) -> Source:
    if data.type not in SOURCE_TYPES:
        raise DomainError(f"type must be one of {', '.join(SOURCE_TYPES)}, got {data.type!r}")
    source = Source(
        type=data.type,
        name=data.name,
        description=data.description,
        surveyed_by_id=viewer.person_id,
        surveyed_at=data.surveyed_at or clock.now(),
        created_at=clock.now(),  # the rules' clock: gaps at a past instant compare with it
        inspection_interval_hours=data.inspection_interval_hours or INSPECTION_HOURS[data.type],
    )
    _place(session, source, data.lon, data.lat, data.crs)
    if not may_manage(session, viewer, source.cell_id):
        raise Forbidden("this position lies outside the cells you are responsible for")
    check_rule_changes(session, viewer, source.cell_id, {k: getattr(data, k) for k in RULE_FIELDS})
    session.add(source)
    session.flush()
    audit.record(
        session, "source.create", "source", source.id, cell_id=source.cell_id, after=facts(source)
    )
    return source


def facts(source: Source) -> dict[str, Any]:
    """What the audit log keeps of a ledger source."""
    return {
        "type": source.type,
        "name": source.name,
        "description": source.description,
        "lat": source.lat,
        "lon": source.lon,
        "cell_id": source.cell_id,
        "inspection_interval_hours": source.inspection_interval_hours,
        "surveyed_by_id": source.surveyed_by_id,
        "surveyed_at": source.surveyed_at,
        "retired_at": source.retired_at,
    }


def update_source(
    session: Session, viewer: Viewer, source: Source, changes: dict[str, object]
) -> Source:
    if source.retired_at is not None:
        raise DomainError(f"source {source.id} was retired; it cannot be changed")
    if not may_manage(session, viewer, source.cell_id):
        raise Forbidden("this source lies outside the cells you are responsible for")
    check_rule_changes(session, viewer, source.cell_id, changes)
    before = facts(source)
    if changes.get("lat") is not None or changes.get("lon") is not None:
        lon = changes.get("lon") if changes.get("lon") is not None else source.lon
        lat = changes.get("lat") if changes.get("lat") is not None else source.lat
        _place(session, source, float(lon), float(lat), str(changes.get("crs") or "wgs84"))  # type: ignore[arg-type]
        if not may_manage(session, viewer, source.cell_id):
            raise Forbidden("the new position lies outside the cells you are responsible for")
    for key in ("name", "description", "inspection_interval_hours"):
        if key in changes and changes[key] is not None:
            setattr(source, key, changes[key])
    if any(changes.get(key) is not None for key in SURVEY_FIELDS):
        # Whoever re-surveys the source signs for it; a new interval alone is no survey.
        source.surveyed_by_id = viewer.person_id
        source.surveyed_at = changes.get("surveyed_at") or clock.now()  # type: ignore[assignment]
    session.flush()
    audit.record(
        session,
        "source.update",
        "source",
        source.id,
        cell_id=source.cell_id,
        before=before,
        after=facts(source),
    )
    return source


def retire_source(session: Session, viewer: Viewer, source: Source) -> None:
    if not oversees(session, viewer, source.cell_id) or viewer.role == "leader":
        raise Forbidden("only a supervisor, the command office or an admin may retire a source")
    if source.retired_at is None:
        before = facts(source)
        source.retired_at = clock.now()
        audit.record(
            session,
            "source.retire",
            "source",
            source.id,
            cell_id=source.cell_id,
            before=before,
            after=facts(source),
        )
    session.flush()
