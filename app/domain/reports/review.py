"""After intake: a supervisor's review of a flagged report, flags that arrive later (photos),
and whether the report counts now — with its audit facts."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app import clock
from app.domain import audit
from app.domain.errors import Conflict
from app.domain.reports.flags import counts
from app.domain.reports.queries import NewReport
from app.domain.status import record_visit, remove_report_visits
from app.models import Report


def review_report(
    session: Session, report: Report, *, reviewer_id: int, accept: bool, note: str | None
) -> None:
    """A supervisor's decision on a flagged report: accepted reports count from then on."""
    lock_report(session, report)
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
    report.reviewed_at = clock.now()
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


def report_facts(report: Report | NewReport) -> dict[str, Any]:
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


def lock_report(session: Session, report: Report) -> None:
    """Take the report's row lock and re-read it: a concurrent review or photo waits for this
    transaction and then decides on what it wrote, never on a copy read before."""
    session.refresh(report, with_for_update=True)


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
