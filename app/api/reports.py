"""Patrol reports: single and batch intake (idempotent on the client's UUID), track patrols,
supervisor review, and scope-limited reading (SPEC §4, §6, §7). Photos: app/api/photos.py."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, literal, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from app import clock
from app.api.deps import CurrentViewer, require_roles
from app.api.errors import clean_errors, refused_value
from app.api.metrics import count_ingested
from app.api.params import AsOf, Bbox, page_of, parse_bbox
from app.config import get_settings
from app.db import ReadSessionDep, SessionDep
from app.domain.errors import DomainError
from app.domain.grid.cells import get_cell
from app.domain.people.scope import Viewer, get_visible, oversees, visible
from app.domain.reports.intake import (
    Filed,
    NewReport,
    ReportData,
    file_report,
    file_reports,
)
from app.domain.reports.review import review_report
from app.domain.reports.tracks import TrackData, file_track
from app.models import Cell, Person, Photo, Report
from app.models.base import LTree
from app.schemas.reports import (
    BatchItemOut,
    BatchOut,
    ReportIn,
    ReportOut,
    ReviewIn,
    TrackIn,
    TrackOut,
)

router = APIRouter(prefix="/api/v1", tags=["reports"])

Reporter = Annotated[Viewer, Depends(require_roles("inspector", "leader", "supervisor"))]
Reviewer = Annotated[Viewer, Depends(require_roles("supervisor", "command", "admin"))]
_report_item = TypeAdapter(ReportIn)


def _data(body: ReportIn) -> ReportData:
    return ReportData(**body.model_dump())


def reports_out(session: Session, reports: Sequence[Report]) -> list[ReportOut]:
    """The answers for stored reports; their cells, reporters and photos are read in three
    queries however many reports there are."""
    if not reports:
        return []
    cell_ids = {r.cell_id for r in reports if r.cell_id is not None}
    cells = select(Cell.id, Cell.code).where(Cell.id.in_(cell_ids))
    codes: dict[int, str] = (
        {cell_id: code for cell_id, code in session.execute(cells)} if cell_ids else {}
    )
    reporter_ids = {r.reporter_id for r in reports}
    usernames: dict[int, str] = {
        person_id: username
        for person_id, username in session.execute(
            select(Person.id, Person.username).where(Person.id.in_(reporter_ids))
        )
    }
    photos: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for report_id, photo_id in session.execute(
        select(Photo.report_id, Photo.id)
        .where(Photo.report_id.in_({r.id for r in reports}))
        .order_by(Photo.uploaded_at)
    ):
        photos[report_id].append(photo_id)
    return [
        ReportOut.of(
            r,
            cell_code=codes.get(r.cell_id) if r.cell_id else None,
            reporter=usernames[r.reporter_id],
            photos=photos[r.id],
        )
        for r in reports
    ]


def report_out(session: Session, report: Report) -> ReportOut:
    return reports_out(session, [report])[0]


def filed_out(session: Session, viewer: Viewer, filed: Sequence[Filed]) -> list[ReportOut]:
    """Answers for what intake filed: a new report from what was inserted (no photos yet, the
    viewer is its reporter), a re-sent one as stored."""
    stored = iter(reports_out(session, [f.report for f in filed if isinstance(f.report, Report)]))
    return [
        ReportOut.of(f.report, cell_code=f.cell_code, reporter=viewer.username, photos=[])
        if isinstance(f.report, NewReport)
        else next(stored)
        for f in filed
    ]


class _Refused(DomainError):
    """A batch item the database refused: a value it cannot store (422), or a report stored
    concurrently under the same id (409)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


@router.post("/reports", status_code=201, responses={200: {"model": ReportOut}})
def post_report(
    body: ReportIn, session: SessionDep, viewer: Reporter, response: Response
) -> ReportOut:
    """File a report as the signed-in person. 201 first time, 200 for an identical re-send,
    409 for a different body under an existing id."""
    filed = file_report(
        session, person_id=viewer.person_id, data=_data(body), received_at=clock.now()
    )
    session.commit()
    count_ingested([filed])
    response.status_code = 201 if filed.created else 200
    [answer] = filed_out(session, viewer, [filed])
    return answer


@router.post("/reports/batch")
def post_batch(items: list[Any], session: SessionDep, viewer: Reporter) -> BatchOut:
    """Offline sync: each item is answered on its own (201, 200, 404, 409 or 422) and either
    stored whole or not at all; re-sending the same batch stores nothing twice."""
    limit = get_settings().batch_max_items
    if len(items) > limit:
        raise HTTPException(413, detail=f"a batch holds at most {limit} reports, got {len(items)}")
    answers: dict[int, BatchItemOut] = {}
    valid: list[tuple[int, str | None, ReportData]] = []
    for index, raw in enumerate(items):
        raw_id = str(raw.get("id"))[:64] if isinstance(raw, dict) and "id" in raw else None
        try:
            valid.append((index, raw_id, _data(_report_item.validate_python(raw))))
        except ValidationError as exc:
            detail = clean_errors(exc.errors())
            answers[index] = BatchItemOut(index=index, id=raw_id, status=422, detail=detail)
    reports = [data for _, _, data in valid]
    received_at = clock.now()
    try:
        outcomes = file_reports(
            session,
            person_id=viewer.person_id,
            items=reports,
            received_at=received_at,
            origin="batch",
        )
    except (DataError, IntegrityError):
        # The database refused something: file the items one by one instead, each in a
        # savepoint, so that only the item at fault fails.
        session.rollback()
        outcomes = [_file_alone(session, viewer, data, received_at) for data in reports]
    stored = iter(filed_out(session, viewer, [o for o in outcomes if isinstance(o, Filed)]))
    for (index, raw_id, _), outcome in zip(valid, outcomes, strict=True):
        if isinstance(outcome, Filed):
            status = 201 if outcome.created else 200
            answers[index] = BatchItemOut(
                index=index, id=str(outcome.report.id), status=status, report=next(stored)
            )
        else:
            answers[index] = BatchItemOut(
                index=index, id=raw_id, status=outcome.status_code, detail=outcome.message
            )
    session.commit()
    count_ingested([o for o in outcomes if isinstance(o, Filed)])
    return BatchOut(results=[answers[index] for index in range(len(items))])


def _file_alone(
    session: Session, viewer: Viewer, data: ReportData, received_at: datetime
) -> Filed | DomainError:
    try:
        with session.begin_nested():
            [outcome] = file_reports(
                session,
                person_id=viewer.person_id,
                items=[data],
                received_at=received_at,
                origin="batch",
            )
    except IntegrityError:  # e.g. the same id filed concurrently twice over; the client retries
        return _Refused(409, "filed concurrently by another request; send it again")
    except DataError as exc:  # a value the database cannot store, e.g. a NUL character
        return _Refused(422, f"refused: {refused_value(exc)}")
    return outcome


@router.get("/reports")
def list_reports(
    session: SessionDep,
    viewer: CurrentViewer,
    within: Annotated[str | None, Query(description="a cell code: only its subtree")] = None,
    flagged: bool | None = None,
    unreviewed: Annotated[bool, Query(description="flagged and not yet reviewed")] = False,
    counted: bool | None = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    conditions = [visible(viewer, Report)]
    if within is not None:
        root = get_cell(session, within)
        subtree = select(Cell.id).where(Cell.path.op("<@")(literal(root.path, LTree)))
        conditions.append(Report.cell_id.in_(subtree))
    if flagged is not None:
        conditions.append(Report.flags != [] if flagged else Report.flags == [])
    if unreviewed:
        conditions += [Report.flags != [], Report.review_status.is_(None)]
    if counted is not None:
        conditions.append(Report.counted.is_(counted))
    if from_ is not None:
        conditions.append(Report.observed_at >= from_)
    if to is not None:
        conditions.append(Report.observed_at < to)
    rows, next_offset = page_of(
        session,
        select(Report).where(*conditions).order_by(Report.observed_at.desc(), Report.id),
        limit,
        offset,
    )
    return {
        "reports": [r.model_dump(mode="json") for r in reports_out(session, rows)],
        "offset": offset,
        "limit": limit,
        "next_offset": next_offset,
    }


@router.get("/reports/heat")
def report_heat(
    session: ReadSessionDep,
    viewer: CurrentViewer,
    bbox: Bbox = None,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
    within: Annotated[str | None, Query(max_length=64)] = None,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Counted patrols of the `days` days before `as_of` (default now) in the box, summed on a
    grid of about 1/200 of the box's width: a heat layer never ships one point per report."""
    box = parse_bbox(bbox) or (-180.0, -90.0, 180.0, 90.0)
    step = max((box[2] - box[0]) / 200, 1e-4)
    until = as_of or clock.now()
    conditions = [
        visible(viewer, Report),
        Report.counted,
        Report.observed_at > until - timedelta(days=days),
        Report.observed_at <= until,
        Report.geom.intersects(func.ST_MakeEnvelope(*box, 4326)),
    ]
    if within is not None:
        root = get_cell(session, within)
        conditions.append(
            Report.cell_id.in_(select(Cell.id).where(Cell.path.op("<@")(literal(root.path, LTree))))
        )
    snapped = func.ST_SnapToGrid(Report.geom, step)
    rows = session.execute(
        select(func.ST_Y(snapped), func.ST_X(snapped), func.count())
        .where(*conditions)
        .group_by(snapped)
    ).all()
    top = max((n for _, _, n in rows), default=1)
    return {"cell_deg": step, "points": [[y, x, round(n / top, 3)] for y, x, n in rows]}


@router.get("/reports/{report_id}")
def get_report(report_id: uuid.UUID, session: SessionDep, viewer: CurrentViewer) -> ReportOut:
    return report_out(session, get_visible(session, viewer, Report, report_id))


@router.post("/reports/{report_id}/review")
def review(
    report_id: uuid.UUID, body: ReviewIn, session: SessionDep, viewer: Reviewer
) -> ReportOut:
    """Accept or reject a flagged report; accepted reports count from then on."""
    report = get_visible(session, viewer, Report, report_id)
    if not oversees(session, viewer, report.cell_id):
        raise HTTPException(403, detail="this report's cell is outside your scope")
    review_report(
        session,
        report,
        reviewer_id=viewer.person_id,
        accept=body.decision == "accept",
        note=body.note,
    )
    session.commit()
    return report_out(session, report)


@router.post("/patrols", status_code=201, responses={200: {"model": TrackOut}})
def post_patrol(
    body: TrackIn, session: SessionDep, viewer: Reporter, response: Response
) -> TrackOut:
    """A patrol with a GPS track; its points inside your cells count as patrols there."""
    data = TrackData(
        **body.model_dump(exclude={"track"}),
        coordinates=[(x, y) for x, y in body.track.coordinates],
    )
    result = file_track(session, person_id=viewer.person_id, data=data, received_at=clock.now())
    session.commit()
    response.status_code = 201 if result.created else 200
    return TrackOut.of(result.patrol, cells=result.cells)
