"""Every `issue` report opens a case (SPEC §4, §7: `source: patrol`, `reported`), once.

Report intake (app/domain/reports/intake.py) hands over the reports it has just stored — from
the API, a batch or `gridwatch import-reports` alike — and this opens their cases in the same
transaction. The case's id is derived from the report's (uuid5), so a report is stored once
and its case opened once however often it is re-sent. A report voided by a flag still opens
its case: the desk shows the report's flags at triage, and the command office decides.

The reporter opens the case; nobody is asked for permission (the report itself was the
reporter's to file), and the missed-by-the-grid check does not apply to the grid's own cases.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.domain import audit
from app.domain.fingerprint import fingerprint
from app.domain.hotspots.cases import hotspot_facts
from app.domain.status import refresh_hotspot_counts_of
from app.models import Hotspot, HotspotEvent, Person

ISSUE = "issue"
PATROL = "patrol"
DEFAULT_CATEGORY = "other"
# Fixed for ever: the case of report R has the id uuid5(CASE_NAMESPACE, str(R)).
CASE_NAMESPACE = uuid.UUID("0b6f3c2e-5d1a-4c8e-9f7b-2a6d1e4c8b35")


class IssueReport(Protocol):
    """What opening a case needs of a stored report (a Report row or intake's NewReport)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def reporter_id(self) -> int: ...
    @property
    def cell_id(self) -> int | None: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def observed_at(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def category(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...


def case_id_for(report_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(CASE_NAMESPACE, str(report_id))


def body_hash(report: IssueReport, category: str, description: str, found_at: datetime) -> str:
    """The same fingerprint `create_hotspot` gives the equivalent request, so posting that
    request again is an identical re-send."""
    return fingerprint(
        {
            "lat": report.lat,
            "lon": report.lon,
            "crs": "wgs84",
            "category": category,
            "description": description,
            "source": PATROL,
            "found_at": found_at.timestamp(),
            "report_id": str(report.id),
        }
    )


def patrol_case_of(session: Session, report_id: uuid.UUID) -> Hotspot | None:
    """The case a report opened: by its derived id, or (reports filed before cases opened
    themselves) the earliest `patrol` case linked to it."""
    case = session.get(Hotspot, case_id_for(report_id))
    if case is not None:
        return case
    return session.scalar(
        select(Hotspot)
        .where(Hotspot.report_id == report_id, Hotspot.source == PATROL)
        .order_by(Hotspot.created_at, Hotspot.id)
        .limit(1)
    )


def open_cases(session: Session, reports: Sequence[IssueReport]) -> list[Hotspot]:
    """Open the case of each `issue` report among `reports` that has none yet; the others are
    left alone. Returns the cases opened. Runs in the caller's transaction."""
    issues = {r.id: r for r in reports if r.kind == ISSUE}
    if not issues:
        return []
    wanted = {case_id_for(report_id): r for report_id, r in issues.items()}
    taken = set(session.scalars(select(Hotspot.id).where(Hotspot.id.in_(wanted))))
    linked = set(
        session.scalars(
            select(Hotspot.report_id).where(Hotspot.report_id.in_(issues), Hotspot.source == PATROL)
        )
    )
    fresh = {
        case_id: r for case_id, r in wanted.items() if case_id not in taken and r.id not in linked
    }
    if not fresh:
        return []
    reporter_ids = {r.reporter_id for r in fresh.values()}
    usernames = dict(
        session.execute(select(Person.id, Person.username).where(Person.id.in_(reporter_ids)))
        .tuples()
        .all()
    )
    now = clock.now()
    opened = []
    for case_id, report in fresh.items():
        category = report.category or DEFAULT_CATEGORY
        description = report.description or ""
        found_at = min(report.observed_at, now)  # never in the future (a `future_time` flag)
        case = Hotspot(
            id=case_id,
            cell_id=report.cell_id,
            geom=f"SRID=4326;POINT({report.lon} {report.lat})",
            lat=report.lat,
            lon=report.lon,
            category=category,
            description=description,
            source=PATROL,
            found_at=found_at,
            report_id=report.id,
            created_by_id=report.reporter_id,
            status="reported",
            missed_by_grid=False,
            body_hash=body_hash(report, category, description, found_at),
            created_at=now,
            updated_at=now,
        )
        session.add(case)
        opened.append((case, report))
    session.flush()
    for case, report in opened:
        session.add(
            HotspotEvent(
                hotspot_id=case.id,
                at=now,
                actor_id=report.reporter_id,
                actor_label=usernames.get(report.reporter_id, "system"),
                action="create",
                from_status=None,
                to_status="reported",
            )
        )
    session.flush()
    # The cells' locks in a fixed order (two batches never wait on each other in a circle).
    refresh_hotspot_counts_of(session, [c.cell_id for c, _ in opened if c.cell_id is not None])
    for case, report in opened:
        audit.record(
            session,
            "hotspot.create",
            "hotspot",
            case.id,
            cell_id=case.cell_id,
            after=hotspot_facts(case) | {"channel": None, "opened_by_report": report.id},
        )
    return [case for case, _ in opened]
