"""Report intake (SPEC §4): resolve the cell, compute every voiding flag, decide whether the
report counts, keep re-sends idempotent, open the case of every `issue` report. Used by the
API (single and batch); `gridwatch import-reports` applies the same rules set-wise in SQL
(app/domain/reports/staging.py), with the lookup's SQL fragments (queries.py)."""

from __future__ import annotations

import uuid
from bisect import bisect_right, insort
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import audit
from app.domain.errors import Conflict, DomainError, NotFound
from app.domain.grid.crs import CrsError, point_to_wgs84
from app.domain.hotspots.from_reports import open_cases
from app.domain.reports.flags import counts, fingerprint, voiding_flags
from app.domain.reports.queries import NewReport, distance_m, ewkt, insert_reports, lookup
from app.domain.reports.review import report_facts
from app.domain.status import Visit, record_visits
from app.models import Cell, Report, Source


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
    report: Report | NewReport  # as stored before (a re-send), or as just inserted
    created: bool
    cell_code: str | None


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
    [outcome] = file_reports(
        session,
        person_id=person_id,
        items=[data],
        received_at=received_at,
        origin=origin,
        late_sync=late_sync,
    )
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def file_reports(
    session: Session,
    *,
    person_id: int,
    items: Sequence[ReportData],
    received_at: datetime,
    origin: str = "api",
    late_sync: bool = True,
) -> list[Filed | DomainError]:
    """Store one person's reports in the caller's transaction, each exactly as `file_report`
    would one after the other (so a report's previous counted patrol may be an earlier item),
    with a fixed number of statements however many there are. Each item's outcome is its
    Filed or the DomainError it was refused with; database errors (a value PostgreSQL
    refuses) propagate and leave the transaction to the caller."""
    return file_reports_by(
        session,
        reporters=[person_id] * len(items),
        items=items,
        received_at=received_at,
        origin=origin,
        late_sync=late_sync,
    )


def file_reports_by(
    session: Session,
    *,
    reporters: Sequence[int],
    items: Sequence[ReportData],
    received_at: datetime,
    origin: str = "api",
    late_sync: bool = True,
) -> list[Filed | DomainError]:
    """`file_reports` for items of several people at once (`reporters[k]` filed `items[k]`):
    each person's items are decided as that person's `file_reports` would, the statements
    are shared by all."""
    if not items:
        return []
    intake = _Intake(session, reporters, items, received_at, late_sync, origin)
    outcomes = intake.decide()
    fresh = intake.created
    if not fresh:
        return outcomes
    stored = insert_reports(session, fresh, origin)
    if len(stored) < len(fresh):  # ids another request committed meanwhile: answer from those
        outcomes = intake.answer_raced(outcomes, {r.id for r in fresh if r.id not in stored})
    kept = [r for r in fresh if r.id in stored]
    for report in kept:
        audit.record(
            session,
            "report.create",
            "report",
            report.id,
            cell_id=report.cell_id,
            after=report_facts(report),
        )
    record_visits(
        session,
        [
            Visit(r.cell_id, r.reporter_id, r.observed_at, ewkt(r.lon, r.lat), report_id=r.id)
            for r in kept
            if r.counted and r.cell_id is not None
        ],
    )
    open_cases(session, kept)  # every `issue` report opens its case, once (SPEC §4)
    return outcomes


def _different_body(report_id: uuid.UUID) -> Conflict:
    return Conflict(f"report {report_id} was already filed with a different body")


def _wgs84(data: ReportData) -> tuple[float, float] | CrsError:
    if data.crs == "wgs84":
        return data.lon, data.lat
    try:
        return point_to_wgs84(data.lon, data.lat, data.crs)
    except CrsError as exc:
        return exc


def _latest_before(
    reporters: Sequence[int],
    items: Sequence[ReportData],
    points: Sequence[tuple[float, float] | CrsError],
) -> list[int | None]:
    """For each item, the earlier item (by position) of the same reporter latest in time at
    or before it: its previous counted patrol among the items, if every earlier one counts."""
    seen: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    before: list[int | None] = []
    for k, data in enumerate(items):
        mine = seen[reporters[k]]
        pos = bisect_right(mine, (data.observed_at, len(items)))
        before.append(mine[pos - 1][1] if pos else None)
        if not isinstance(points[k], CrsError):
            insort(mine, (data.observed_at, k))
    return before


class _Intake:
    """What `file_report` would decide for each item in turn, from one lookup for them all."""

    def __init__(
        self,
        session: Session,
        reporters: Sequence[int],
        items: Sequence[ReportData],
        received_at: datetime,
        late_sync: bool,
        origin: str,
    ) -> None:
        self.session, self.reporters, self.items = session, reporters, items
        self.received_at, self.late_sync, self.origin = received_at, late_sync, origin
        self.created: list[NewReport] = []
        self.digests = [d.fingerprint() for d in items]
        self.points = [_wgs84(d) for d in items]
        self.before = _latest_before(reporters, items, self.points)
        # Up to three earlier items whose distances the lookup measures: the one before, the
        # one before that, … (the previous counted patrol when those in between do not count).
        self.earlier: list[list[int]] = []
        for k in range(len(items)):
            chain: list[int] = []
            while len(chain) < 3 and (j := self.before[chain[-1] if chain else k]) is not None:
                chain.append(j)
            self.earlier.append(chain)
        self.rows = lookup(
            session,
            reporters=reporters,
            ids=[d.id for d in items],
            points=[None if isinstance(p, CrsError) else p for p in self.points],
            times=[d.observed_at for d in items],
            befores=self.earlier,
        )
        wanted = {d.source_id for d in items if d.source_id is not None}
        self.sources = (
            set(session.scalars(select(Source.id).where(Source.id.in_(wanted))))
            if wanted
            else set()
        )

    def decide(self) -> list[Filed | DomainError]:
        """Each item's outcome; the new reports to insert are then in `created`."""
        outcomes: list[Filed | DomainError | None] = []  # None: stored before, loaded below
        holder: dict[uuid.UUID, int] = {}  # id → the item whose outcome holds that report
        new: dict[int, NewReport] = {}
        # Per reporter, (observed_at, item) of the new counted ones.
        counted: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
        for k, data in enumerate(self.items):
            row, twin = self.rows[k], holder.get(data.id)
            if twin is not None or row.stored_hash is not None:
                outcome = self._resent(k, twin, outcomes)
                outcomes.append(outcome)
                if not isinstance(outcome, DomainError):
                    holder.setdefault(data.id, k)
                continue
            refused = self._refusal(data)
            if refused is not None:
                outcomes.append(refused)
                continue
            point = self.points[k]
            if isinstance(point, CrsError):
                outcomes.append(point)
                continue
            mine = counted[self.reporters[k]]
            report = self._new_report(k, point, self._previous(k, point, new, mine))
            outcomes.append(Filed(report, True, row.cell_code))
            holder[data.id], new[k] = k, report
            self.created.append(report)
            if report.counted:
                insort(mine, (data.observed_at, k))
        return self._with_stored(outcomes)

    def _resent(
        self, k: int, twin: int | None, outcomes: list[Filed | DomainError | None]
    ) -> Filed | DomainError | None:
        """An id stored before (None: answered below) or earlier among the items."""
        data, row = self.items[k], self.rows[k]
        if twin is None:
            same = row.stored_hash == self.digests[k]
            same = same and row.stored_reporter_id == self.reporters[k]
        else:
            same = self.digests[twin] == self.digests[k]
            same = same and self.reporters[twin] == self.reporters[k]
        if not same:
            return _different_body(data.id)
        earlier = outcomes[twin] if twin is not None else None
        return (
            Filed(earlier.report, False, earlier.cell_code) if isinstance(earlier, Filed) else None
        )

    def _refusal(self, data: ReportData) -> DomainError | None:
        if data.kind not in ("patrol", "issue"):
            return DomainError(f"kind must be patrol or issue, got {data.kind!r}")
        if data.source_id is not None and data.source_id not in self.sources:
            return NotFound(f"no pollution source with id {data.source_id}")
        return None

    def _previous(
        self,
        k: int,
        point: tuple[float, float],
        new: dict[int, NewReport],
        counted: list[tuple[datetime, int]],
    ) -> tuple[datetime, float] | None:
        """The reporter's previous counted patrol before item k (when, how far): the latest of
        the history's and the reporter's earlier items' that counted (`counted`)."""
        row, at = self.rows[k], self.items[k].observed_at
        pos = bisect_right(counted, (at, len(self.items)))
        if pos and (row.previous_at is None or counted[pos - 1][0] >= row.previous_at):
            j = counted[pos - 1][1]
            before = new[j]
            if j in self.earlier[k]:
                metres = (row.before_m, row.before2_m, row.before3_m)[self.earlier[k].index(j)]
                return before.observed_at, float(metres)
            return before.observed_at, distance_m(self.session, (before.lon, before.lat), point)
        if row.previous_at is None:
            return None
        return row.previous_at, float(row.previous_m)

    def _new_report(
        self, k: int, point: tuple[float, float], previous: tuple[datetime, float] | None
    ) -> NewReport:
        data, row = self.items[k], self.rows[k]
        lon, lat = point
        flags = voiding_flags(
            cell_id=row.cell_id,
            on_duty=row.on_duty,
            accuracy_m=data.accuracy_m,
            observed_at=data.observed_at,
            received_at=self.received_at,
            late_sync=self.late_sync,
            previous=previous,
        )
        return NewReport(
            id=data.id,
            reporter_id=self.reporters[k],
            cell_id=row.cell_id,
            lat=lat,
            lon=lon,
            accuracy_m=data.accuracy_m,
            observed_at=data.observed_at,
            received_at=self.received_at,
            kind=data.kind,
            category=data.category,
            description=data.description,
            source_id=data.source_id,
            flags=flags,
            counted=counts(flags, None, row.cell_id),
            body_hash=self.digests[k],
            origin=self.origin,
        )

    def _with_stored(self, outcomes: list[Filed | DomainError | None]) -> list[Filed | DomainError]:
        """Fill in the answers from reports stored before (one query for them all)."""
        missing = [k for k, o in enumerate(outcomes) if o is None]
        stored = self.load({self.items[k].id for k in missing})
        return [stored[self.items[k].id] if o is None else o for k, o in enumerate(outcomes)]

    def load(self, ids: set[uuid.UUID]) -> dict[uuid.UUID, Filed]:
        if not ids:
            return {}
        rows = self.session.execute(
            select(Report, Cell.code)
            .outerjoin(Cell, Cell.id == Report.cell_id)
            .where(Report.id.in_(ids))
        ).all()
        return {r.id: Filed(r, False, code) for r, code in rows}

    def answer_raced(
        self, outcomes: list[Filed | DomainError], raced: set[uuid.UUID]
    ) -> list[Filed | DomainError]:
        """Items whose id another request stored between the lookup and the insert: answered
        from that report, as a re-send would be."""
        stored = self.load(raced)
        answers: list[Filed | DomainError] = []
        for k, outcome in enumerate(outcomes):
            if isinstance(outcome, Filed) and outcome.report.id in raced:
                twin = stored[outcome.report.id]
                same = (
                    twin.report.body_hash == self.digests[k]
                    and twin.report.reporter_id == self.reporters[k]
                )
                outcome = twin if same else _different_body(self.items[k].id)
            answers.append(outcome)
        return answers
