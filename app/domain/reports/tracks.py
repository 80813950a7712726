"""Track-based patrols: a GPS trace recorded while patrolling. Each vertex inside a unit cell
whose duty the patroller holds at that moment counts as presence in that cell (SPEC §5 "counted
track point"), unless the whole patrol is voided (future, late, inaccurate, impossibly fast)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain import audit
from app.domain.errors import Conflict, DomainError
from app.domain.grid.crs import points_to_wgs84
from app.domain.reports.flags import fingerprint, speed_kmh, timing_flags
from app.domain.status import record_visit
from app.models import Patrol

GEOD = Geod(ellps="WGS84")
MAX_POINTS = 20_000
VISIT_SPACING = timedelta(minutes=1)  # one history row per cell per minute is enough

_CELLS_ON_DUTY = text("""
    SELECT p.i, c.id AS cell_id, c.code,
           EXISTS (SELECT 1 FROM duties d
                    WHERE d.cell_id = c.id AND d.person_id = :person_id
                      AND (d.valid_from IS NULL OR d.valid_from <= p.t)
                      AND (d.valid_to IS NULL OR d.valid_to > p.t)) AS on_duty
      FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]),
                  CAST(:times AS timestamptz[])) WITH ORDINALITY AS p(lon, lat, t, i)
      JOIN LATERAL (
            SELECT id, code FROM cells
             WHERE is_leaf AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
               AND (valid_from IS NULL OR valid_from <= p.t)
               AND (valid_to IS NULL OR valid_to > p.t)
             ORDER BY code LIMIT 1) c ON true
     ORDER BY p.i
""")


@dataclass(frozen=True)
class TrackData:
    id: uuid.UUID
    started_at: datetime
    ended_at: datetime
    coordinates: list[tuple[float, float]]  # lon, lat
    times: list[datetime] | None = None
    crs: str = "wgs84"
    accuracy_m: float | None = None


@dataclass
class TrackResult:
    patrol: Patrol
    created: bool
    cells: list[str]


def vertex_times(data: TrackData, lonlat: np.ndarray) -> list[datetime]:
    """Given times, checked; else spread over [start, end] in proportion to distance walked."""
    if data.times is not None:
        if len(data.times) != len(lonlat):
            raise DomainError(f"times has {len(data.times)} entries for {len(lonlat)} track points")
        if any(b < a for a, b in zip(data.times, data.times[1:], strict=False)):
            raise DomainError("times must not go backwards")
        if data.times[0] < data.started_at or data.times[-1] > data.ended_at:
            raise DomainError("times must lie within started_at … ended_at")
        return list(data.times)
    _, _, legs = GEOD.inv(lonlat[:-1, 0], lonlat[:-1, 1], lonlat[1:, 0], lonlat[1:, 1])
    walked = np.concatenate([[0.0], np.cumsum(legs)])
    share = walked / walked[-1] if walked[-1] > 0 else np.linspace(0, 1, len(lonlat))
    span = data.ended_at - data.started_at
    return [data.started_at + span * float(s) for s in share]


def file_track(
    session: Session, *, person_id: int, data: TrackData, received_at: datetime
) -> TrackResult:
    settings = get_settings()
    digest = fingerprint(
        {
            "started_at": data.started_at.timestamp(),
            "ended_at": data.ended_at.timestamp(),
            "coordinates": data.coordinates,
            "times": [t.timestamp() for t in data.times] if data.times else None,
            "crs": data.crs,
            "accuracy_m": data.accuracy_m,
        }
    )
    existing = session.get(Patrol, data.id)
    if existing is not None:
        if existing.body_hash != digest or existing.reporter_id != person_id:
            raise Conflict(f"patrol {data.id} was already filed with a different body")
        return TrackResult(existing, False, _visited_codes(session, existing.id))
    if data.ended_at <= data.started_at:
        raise DomainError("ended_at must be after started_at")
    if not 2 <= len(data.coordinates) <= MAX_POINTS:
        raise DomainError(f"a track needs 2 to {MAX_POINTS} points")
    lonlat = np.array(data.coordinates, dtype=float)
    if data.crs != "wgs84":
        lonlat = points_to_wgs84(lonlat, data.crs)
    times = vertex_times(data, lonlat)

    flags = timing_flags(data.ended_at, received_at, late_sync=True)
    if data.accuracy_m is not None and data.accuracy_m > settings.max_accuracy_m:
        flags.append("low_accuracy")
    _, _, legs = GEOD.inv(lonlat[:-1, 0], lonlat[:-1, 1], lonlat[1:, 0], lonlat[1:, 1])
    seconds = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    if any(speed_kmh(m, s) > settings.max_speed_kmh for m, s in zip(legs, seconds, strict=True)):
        flags.append("impossible_speed")

    hits = session.execute(
        _CELLS_ON_DUTY,
        {
            "person_id": person_id,
            "lons": lonlat[:, 0].tolist(),
            "lats": lonlat[:, 1].tolist(),
            "times": times,
        },
    ).all()
    counted_hits = [h for h in hits if h.on_duty] if not flags else []
    wkt = ", ".join(f"{x} {y}" for x, y in lonlat)
    patrol = Patrol(
        id=data.id,
        reporter_id=person_id,
        started_at=data.started_at,
        ended_at=data.ended_at,
        received_at=received_at,
        track=f"SRID=4326;LINESTRING({wkt})",
        accuracy_m=data.accuracy_m,
        flags=flags,
        counted=not flags and bool(counted_hits),
        points=len(lonlat),
        counted_points=len(counted_hits),
        body_hash=digest,
    )
    session.add(patrol)
    session.flush()
    facts = {
        "reporter_id": person_id,
        "started_at": data.started_at,
        "ended_at": data.ended_at,
        "received_at": received_at,
        "points": len(lonlat),
        "track_wkt_sha256": hashlib.sha256(wkt.encode()).hexdigest(),
        "flags": flags,
        "counted": patrol.counted,
        "counted_cells": sorted({h.code for h in counted_hits}),
    }
    # One entry per cell the track passed through, so each cell's readers see it.
    for cell_id in sorted({h.cell_id for h in hits}) or [None]:
        audit.record(session, "patrol.create", "patrol", patrol.id, cell_id=cell_id, after=facts)
    last_kept: dict[int, datetime] = {}
    for h in counted_hits:
        at = times[h.i - 1]
        if h.cell_id in last_kept and at - last_kept[h.cell_id] < VISIT_SPACING:
            continue
        last_kept[h.cell_id] = at
        x, y = lonlat[h.i - 1]
        record_visit(
            session,
            cell_id=h.cell_id,
            person_id=person_id,
            observed_at=at,
            geom=f"SRID=4326;POINT({x} {y})",
            patrol_id=patrol.id,
        )
    return TrackResult(patrol, True, sorted({h.code for h in counted_hits}))


def _visited_codes(session: Session, patrol_id: uuid.UUID) -> list[str]:
    return list(
        session.scalars(
            text(
                "SELECT DISTINCT c.code FROM cell_visits v JOIN cells c ON c.id = v.cell_id "
                "WHERE v.patrol_id = :id ORDER BY c.code"
            ),
            {"id": patrol_id},
        )
    )
