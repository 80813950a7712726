"""Opening a case (SPEC §4): where it lies, who may open it from which source, and whether the grid
missed it (no counted `issue` report nearby shortly before it was found)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.domain import audit
from app.domain.errors import Conflict, DomainError, NotFound
from app.domain.fingerprint import fingerprint
from app.domain.grid.cells import leaf_cell_at
from app.domain.grid.crs import point_to_wgs84
from app.domain.hotspots import rules as case_rules
from app.domain.hotspots.cases import Actor, HotspotData, hotspot_facts
from app.domain.hotspots.from_reports import patrol_case_of
from app.domain.people.scope import can_see, find_visible
from app.domain.status import refresh_hotspot_counts
from app.models import Hotspot, HotspotEvent, Report
from app.models.hotspots import SOURCES

MISSABLE = ("inspection", "complaint", "fire_point")


_SEEN_BY_GRID = text("""
    SELECT EXISTS (
      SELECT 1 FROM reports r
       WHERE r.cell_id = :cell_id AND r.kind = 'issue' AND r.counted
         AND r.observed_at <= :found_at AND r.observed_at >= :since
         AND ST_DWithin(r.geom::geography,
                        ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :radius))
""")


def seen_by_grid(
    session: Session, cell_id: int, lon: float, lat: float, found_at: datetime
) -> bool:
    """Did a counted `issue` report of this cell, within 200 m and the 7 days before, see it?"""
    settings = get_settings()
    return bool(
        session.scalar(
            _SEEN_BY_GRID,
            {
                "cell_id": cell_id,
                "lon": lon,
                "lat": lat,
                "found_at": found_at,
                "since": found_at - timedelta(days=settings.missed_days),
                "radius": settings.missed_radius_m,
            },
        )
    )


def create_hotspot(
    session: Session,
    *,
    actor: Actor,
    data: HotspotData,
    channel: str | None = None,
    contact: dict[str, str] | None = None,
) -> tuple[Hotspot, bool]:
    """Returns (hotspot, created). An identical re-send with the same id returns the stored
    hotspot; a different body under that id is a Conflict. A `patrol` case for a report that
    already opened one returns that case. Who may open which case where:
    app/domain/hotspots/rules.py."""
    now = clock.now()
    hotspot_id = data.id or uuid.uuid4()
    digest = fingerprint(
        {
            "lat": data.lat,
            "lon": data.lon,
            "crs": data.crs,
            "category": data.category,
            "description": data.description,
            "source": data.source,
            "found_at": data.found_at.timestamp() if data.found_at else None,
            "report_id": str(data.report_id) if data.report_id else None,
        }
    )
    existing = session.get(Hotspot, hotspot_id)
    if existing is not None:
        if actor.viewer is not None and not can_see(session, actor.viewer, Hotspot, existing.id):
            raise Conflict(f"hotspot id {hotspot_id} is taken; choose another")
        if existing.body_hash != digest:
            raise Conflict(f"hotspot {hotspot_id} already exists with a different body")
        return existing, False
    if data.source not in SOURCES:
        raise DomainError(f"source must be one of {', '.join(SOURCES)}, got {data.source!r}")
    viewer = actor.viewer
    case_rules.check_source_role(viewer, data.source)
    lon, lat = data.lon, data.lat
    if data.crs != "wgs84":
        lon, lat = point_to_wgs84(lon, lat, data.crs)
    report = None
    if data.report_id is not None:
        report = find_visible(session, viewer, Report, data.report_id) if viewer else None
        if report is None:
            raise NotFound(f"report_id: no report with id {data.report_id}")
    if data.source == case_rules.PATROL:
        report = case_rules.check_patrol_report(viewer, report)
    found_at = case_rules.found_at_for(data.found_at, report, now)
    found = leaf_cell_at(session, lon, lat, found_at)
    cell_id = found[0] if found else None
    if data.source != case_rules.PATROL:
        case_rules.check_official_scope(session, viewer, cell_id)
    if report is not None:
        case_rules.check_report_link(session, report, cell_id, lon, lat)
    if data.source == case_rules.PATROL and report is not None:
        # An `issue` report opened its case when it was filed (from_reports.py): asking for
        # it again answers that case, never a second one.
        opened = patrol_case_of(session, report.id)
        if opened is not None:
            return opened, False
    missed = (
        data.source in MISSABLE
        and cell_id is not None
        and not seen_by_grid(session, cell_id, lon, lat, found_at)
    )
    hotspot = Hotspot(
        id=hotspot_id,
        cell_id=cell_id,
        geom=f"SRID=4326;POINT({lon} {lat})",
        lat=lat,
        lon=lon,
        category=data.category,
        description=data.description,
        source=data.source,
        found_at=found_at,
        report_id=data.report_id,
        created_by_id=actor.person_id,
        channel=channel,
        contact=contact,
        status="reported",
        missed_by_grid=missed,
        body_hash=digest,
        created_at=now,
        updated_at=now,
    )
    session.add(hotspot)
    session.flush()
    session.add(
        HotspotEvent(
            hotspot_id=hotspot.id,
            at=now,
            actor_id=actor.person_id,
            actor_label=actor.label,
            action="create",
            from_status=None,
            to_status="reported",
        )
    )
    refresh_hotspot_counts(session, cell_id)
    audit.record(
        session,
        "hotspot.create",
        "hotspot",
        hotspot.id,
        cell_id=cell_id,
        after=hotspot_facts(hotspot) | {"channel": channel},
    )
    return hotspot, True
