"""Report intake (SPEC §4): resolve the cell, compute every voiding flag, decide whether the
report counts, keep re-sends idempotent. Used by the API (single and batch) and
`gridwatch import-reports` alike."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain import audit
from app.domain.cells import leaf_cell_at
from app.domain.crs import point_to_wgs84
from app.domain.errors import Conflict, DomainError, NotFound
from app.domain.scope import holds_duty
from app.domain.status import record_visit, remove_report_visits
from app.models import Report, Source


@dataclass(frozen=True)
class ReportData:
    """A validated report body (the API's pydantic model and the CSV importer build this)."""

    id: uuid.UUID
    lat: float
    lon: float
    observed_at: datetime
    kind: str
    accuracy_m: float | None = None
    crs: str = "wgs84"
    category: str | None = None
    description: str | None = None
    source_id: int | None = None

    def fingerprint(self) -> str:
        return fingerprint(
            {
                "lat": self.lat,
                "lon": self.lon,
                "crs": self.crs,
                "accuracy_m": self.accuracy_m,
                "observed_at": self.observed_at.timestamp(),
                "kind": self.kind,
                "category": self.category,
                "description": self.description,
                "source_id": self.source_id,
            }
        )


@dataclass
class Filed:
    report: Report
    created: bool
    cell_code: str | None


def fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def counts(flags: list[str], accepted_flags: list[str] | None, cell_id: int | None) -> bool:
    """A report counts when it has no voiding flag, or a supervisor accepted exactly the flags
    it has now (a flag that appears after the review voids it again)."""
    if cell_id is None:
        return False
    return not flags or (accepted_flags is not None and set(flags) <= set(accepted_flags))


_PREVIOUS_VISIT = text("""
    SELECT observed_at,
           ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)
      FROM cell_visits
     WHERE person_id = :person_id AND observed_at <= :at
     ORDER BY observed_at DESC
     LIMIT 1
""")


def speed_kmh(metres: float, seconds: float) -> float:
    return metres / max(seconds, 1.0) * 3.6


def timing_flags(observed_at: datetime, received_at: datetime, late_sync: bool) -> list[str]:
    settings = get_settings()
    flags = []
    if observed_at > received_at + timedelta(minutes=settings.future_tolerance_minutes):
        flags.append("future_time")
    if late_sync and received_at - observed_at > timedelta(days=settings.late_sync_days):
        flags.append("late_sync")
    return flags


def compute_flags(
    session: Session,
    *,
    person_id: int,
    cell_id: int | None,
    lon: float,
    lat: float,
    accuracy_m: float | None,
    observed_at: datetime,
    received_at: datetime,
    late_sync: bool = True,
) -> list[str]:
    settings = get_settings()
    flags: list[str] = []
    if cell_id is None:
        flags.append("outside_cells")
    elif not holds_duty(session, person_id, cell_id, observed_at):
        flags.append("not_on_duty")
    if accuracy_m is not None and accuracy_m > settings.max_accuracy_m:
        flags.append("low_accuracy")
    flags += timing_flags(observed_at, received_at, late_sync)
    previous = session.execute(
        _PREVIOUS_VISIT, {"person_id": person_id, "at": observed_at, "lon": lon, "lat": lat}
    ).first()
    if previous is not None:
        seconds = (observed_at - previous[0]).total_seconds()
        if speed_kmh(float(previous[1]), seconds) > settings.max_speed_kmh:
            flags.append("impossible_speed")
    return flags


def file_report(
    session: Session,
    *,
    person_id: int,
    data: ReportData,
    received_at: datetime,
    origin: str = "api",
    late_sync: bool = True,
) -> Filed:
    """Store a report once. An identical re-send returns the stored report (created=False); a
    different body under the same id raises Conflict. Runs in the caller's transaction."""
    digest = data.fingerprint()
    existing = session.get(Report, data.id)
    if existing is not None:
        if existing.body_hash != digest or existing.reporter_id != person_id:
            raise Conflict(f"report {data.id} was already filed with a different body")
        return Filed(existing, False, _cell_code(session, existing.cell_id))
    if data.kind not in ("patrol", "issue"):
        raise DomainError(f"kind must be patrol or issue, got {data.kind!r}")
    if data.source_id is not None and session.get(Source, data.source_id) is None:
        raise NotFound(f"no pollution source with id {data.source_id}")
    lon, lat = data.lon, data.lat
    if data.crs != "wgs84":
        lon, lat = point_to_wgs84(lon, lat, data.crs)
    found = leaf_cell_at(session, lon, lat, data.observed_at)
    cell_id = found[0] if found else None
    flags = compute_flags(
        session,
        person_id=person_id,
        cell_id=cell_id,
        lon=lon,
        lat=lat,
        accuracy_m=data.accuracy_m,
        observed_at=data.observed_at,
        received_at=received_at,
        late_sync=late_sync,
    )
    report = Report(
        id=data.id,
        reporter_id=person_id,
        cell_id=cell_id,
        geom=f"SRID=4326;POINT({lon} {lat})",
        lat=lat,
        lon=lon,
        accuracy_m=data.accuracy_m,
        observed_at=data.observed_at,
        received_at=received_at,
        kind=data.kind,
        category=data.category,
        description=data.description,
        source_id=data.source_id,
        flags=flags,
        counted=counts(flags, None, cell_id),
        body_hash=digest,
        origin=origin,
    )
    session.add(report)
    session.flush()
    audit.record(
        session, "report.create", "report", report.id, cell_id=cell_id, after=report_facts(report)
    )
    if report.counted and cell_id is not None:
        record_visit(
            session,
            cell_id=cell_id,
            person_id=person_id,
            observed_at=data.observed_at,
            geom=report.geom,
            report_id=report.id,
        )
    return Filed(report, True, found[1] if found else None)


def review_report(
    session: Session, report: Report, *, reviewer_id: int, accept: bool, note: str | None
) -> None:
    """A supervisor's decision on a flagged report: accepted reports count from then on."""
    if not report.flags:
        raise Conflict(f"report {report.id} has no flags; there is nothing to review")
    if report.review_status is not None:
        raise Conflict(f"report {report.id} was already {report.review_status}")
    if accept and report.cell_id is None:
        raise Conflict(f"report {report.id} lies outside every cell and cannot count")
    before = report_facts(report)
    report.review_status = "accepted" if accept else "rejected"
    report.accepted_flags = list(report.flags) if accept else None
    report.reviewed_by_id = reviewer_id
    report.reviewed_at = datetime.now(report.received_at.tzinfo)
    report.review_note = note
    refresh_counting(session, report)
    audit.record(
        session,
        "report.review",
        "report",
        report.id,
        cell_id=report.cell_id,
        before=before,
        after=report_facts(report) | {"review_note": note},
    )


def report_facts(report: Report) -> dict[str, Any]:
    """What the audit log keeps of a report."""
    return {
        "reporter_id": report.reporter_id,
        "kind": report.kind,
        "category": report.category,
        "description": report.description,
        "lat": report.lat,
        "lon": report.lon,
        "accuracy_m": report.accuracy_m,
        "observed_at": report.observed_at,
        "received_at": report.received_at,
        "cell_id": report.cell_id,
        "flags": list(report.flags),
        "counted": report.counted,
        "review_status": report.review_status,
        "origin": report.origin,
        "source_id": report.source_id,
    }


def add_flags(session: Session, report: Report, new: list[str]) -> None:
    """Flags found after intake (photos). A review that did not see them no longer holds."""
    added = [f for f in new if f not in report.flags]
    if not added:
        return
    report.flags = [*report.flags, *added]
    if report.review_status is not None and not set(report.flags) <= set(
        report.accepted_flags or []
    ):
        report.review_status = None  # back in the review queue
    refresh_counting(session, report)


def refresh_counting(session: Session, report: Report) -> None:
    """Re-derive `counted` after flags or a review changed, and keep the history in step."""
    now_counts = counts(report.flags, report.accepted_flags, report.cell_id)
    if now_counts == report.counted:
        return
    report.counted = now_counts
    session.flush()
    if now_counts and report.cell_id is not None:
        record_visit(
            session,
            cell_id=report.cell_id,
            person_id=report.reporter_id,
            observed_at=report.observed_at,
            geom=f"SRID=4326;POINT({report.lon} {report.lat})",
            report_id=report.id,
        )
    else:
        remove_report_visits(session, report.id)


def _cell_code(session: Session, cell_id: int | None) -> str | None:
    if cell_id is None:
        return None
    return session.scalar(text("SELECT code FROM cells WHERE id = :id"), {"id": cell_id})
