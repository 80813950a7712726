"""Every `issue` report opens a case (SPEC §4, §7: `source: patrol`, `reported`), once.

Report intake (app/domain/reports/intake.py) hands over the reports it has just stored — from
the API or a batch; `gridwatch import-reports` its new issue reports a chunk at a time
(`open_cases_setwise`) — and this opens their cases in the same transaction. The case's id is
derived from the report's (uuid5), so a report is stored once and its case opened once however
often it is re-sent. A report voided by a flag still opens its case: the desk shows the
report's flags at triage, and the command office decides.

The reporter opens the case; nobody is asked for permission (the report itself was the
reporter's to file), and the missed-by-the-grid check does not apply to the grid's own cases.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import insert, select
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


def _fresh(session: Session, reports: Sequence[IssueReport]) -> dict[uuid.UUID, IssueReport]:
    """The `issue` reports among `reports` without a case yet, by the id of the case to open."""
    issues = {r.id: r for r in reports if r.kind == ISSUE}
    if not issues:
        return {}
    wanted = {case_id_for(report_id): r for report_id, r in issues.items()}
    taken = set(session.scalars(select(Hotspot.id).where(Hotspot.id.in_(wanted))))
    linked = set(
        session.scalars(
            select(Hotspot.report_id).where(Hotspot.report_id.in_(issues), Hotspot.source == PATROL)
        )
    )
    return {
        case_id: r for case_id, r in wanted.items() if case_id not in taken and r.id not in linked
    }


def _usernames(session: Session, reports: Iterable[IssueReport]) -> dict[int, str]:
    ids = {r.reporter_id for r in reports}
    return dict(session.execute(select(Person.id, Person.username).where(Person.id.in_(ids))).all())


def _case(case_id: uuid.UUID, report: IssueReport, now: datetime) -> Hotspot:
    """The case `report` opens (not added to any session)."""
    category = report.category or DEFAULT_CATEGORY
    description = report.description or ""
    found_at = min(report.observed_at, now)  # never in the future (a `future_time` flag)
    return Hotspot(
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


def _created(case: Hotspot, report: IssueReport, now: datetime, label: str) -> HotspotEvent:
    return HotspotEvent(
        hotspot_id=case.id,
        at=now,
        actor_id=report.reporter_id,
        actor_label=label,
        action="create",
        from_status=None,
        to_status="reported",
    )


def _record(session: Session, opened: Sequence[tuple[Hotspot, IssueReport]]) -> None:
    """The summaries' open-case counts and each case's `hotspot.create` audit entry."""
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


def open_cases(session: Session, reports: Sequence[IssueReport]) -> list[Hotspot]:
    """Open the case of each `issue` report among `reports` that has none yet; the others are
    left alone. Returns the cases opened. Runs in the caller's transaction."""
    fresh = _fresh(session, reports)
    if not fresh:
        return []
    usernames = _usernames(session, fresh.values())
    now = clock.now()
    opened = [(_case(case_id, report, now), report) for case_id, report in fresh.items()]
    session.add_all([case for case, _ in opened])
    session.flush()
    session.add_all(
        [
            _created(case, report, now, usernames.get(report.reporter_id, "system"))
            for case, report in opened
        ]
    )
    session.flush()
    _record(session, opened)
    return [case for case, _ in opened]


def open_cases_setwise(session: Session, reports: Sequence[IssueReport]) -> int:
    """`open_cases` for many reports (the historical import): the same cases, events, counts
    and audit entries, inserted in a statement each rather than through the ORM (nothing is
    added to the session). Returns how many were opened."""
    fresh = _fresh(session, reports)
    if not fresh:
        return 0
    usernames = _usernames(session, fresh.values())
    now = clock.now()
    opened = [(_case(case_id, report, now), report) for case_id, report in fresh.items()]
    for case, _ in opened:  # as the database's defaults give them to a case just opened
        case.extensions = case.reworks = case.reopens = 0
    columns = [c.key for c in Hotspot.__table__.columns if c.key in _CASE_COLUMNS]
    session.execute(insert(Hotspot), [{k: getattr(c, k) for k in columns} for c, _ in opened])
    events = [
        _created(case, report, now, usernames.get(report.reporter_id, "system"))
        for case, report in opened
    ]
    session.execute(
        insert(HotspotEvent),
        [{k: getattr(e, k) for k in _EVENT_COLUMNS} for e in events],
    )
    _record(session, opened)
    return len(opened)


_CASE_COLUMNS = frozenset(
    "id cell_id geom lat lon category description source found_at report_id created_by_id "
    "status missed_by_grid body_hash created_at updated_at extensions reworks reopens".split()
)
_EVENT_COLUMNS = "hotspot_id at actor_id actor_label action from_status to_status".split()
