"""Patrol reports: single and batch intake (idempotent on the client's UUID), photos, track
patrols, supervisor review, and scope-limited reading (SPEC §4, §6, §7)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Query, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, func, literal, or_, select, true
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from app.api.deps import CurrentViewer, require_roles
from app.api.errors import clean_errors
from app.api.params import Bbox, page_of, parse_bbox
from app.config import get_settings
from app.db import SessionDep
from app.domain.cells import get_cell
from app.domain.errors import DomainError, NotFound
from app.domain.intake import ReportData, file_report, review_report
from app.domain.photos import add_photo, extension_of, photo_path
from app.domain.scope import Viewer, can_see_report, oversees, sees_everything, visible_cells
from app.domain.tracks import TrackData, file_track
from app.models import Cell, Person, Photo, Report
from app.models.base import LTree
from app.schemas.reports import (
    BatchItemOut,
    BatchOut,
    PhotoOut,
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
    return ReportData(
        id=body.id,
        lat=body.lat,
        lon=body.lon,
        crs=body.crs,
        accuracy_m=body.accuracy_m,
        observed_at=body.observed_at,
        kind=body.kind,
        category=body.category,
        description=body.description,
        source_id=body.source_id,
    )


def report_out(session: Session, report: Report) -> ReportOut:
    cell = session.get(Cell, report.cell_id) if report.cell_id else None
    reporter = session.get_one(Person, report.reporter_id)
    photos = session.scalars(
        select(Photo.id).where(Photo.report_id == report.id).order_by(Photo.uploaded_at)
    ).all()
    return ReportOut(
        id=report.id,
        cell_code=cell.code if cell else None,
        counted=report.counted,
        flags=report.flags,
        observed_at=report.observed_at,
        received_at=report.received_at,
        kind=report.kind,
        category=report.category,
        description=report.description,
        lat=report.lat,
        lon=report.lon,
        accuracy_m=report.accuracy_m,
        reporter=reporter.username,
        review_status=report.review_status,
        photos=list(photos),
    )


def _file_one(session: Session, viewer: Viewer, body: ReportIn, origin: str) -> tuple[int, Report]:
    """Insert one report in a savepoint; (201|200, report). Domain errors propagate. When the
    same id was filed concurrently and committed first, the second try answers from what is
    stored."""
    for attempt in (1, 2):
        try:
            with session.begin_nested():
                filed = file_report(
                    session,
                    person_id=viewer.person_id,
                    data=_data(body),
                    received_at=datetime.now(UTC),
                    origin=origin,
                )
            break
        except IntegrityError:
            if attempt == 2:
                raise
    return (201 if filed.created else 200), filed.report


@router.post("/reports", status_code=201, responses={200: {"model": ReportOut}})
def post_report(
    body: ReportIn, session: SessionDep, viewer: Reporter, response: Response
) -> ReportOut:
    """File a report as the signed-in person. 201 first time, 200 for an identical re-send,
    409 for a different body under an existing id."""
    status, report = _file_one(session, viewer, body, "api")
    session.commit()
    response.status_code = status
    return report_out(session, report)


@router.post("/reports/batch")
def post_batch(items: list[Any], session: SessionDep, viewer: Reporter) -> BatchOut:
    """Offline sync: each item is answered on its own (201, 200, 404, 409 or 422) and either
    stored whole or not at all; re-sending the same batch stores nothing twice."""
    limit = get_settings().batch_max_items
    if len(items) > limit:
        raise HTTPException(413, detail=f"a batch holds at most {limit} reports, got {len(items)}")
    results: list[BatchItemOut] = []
    for index, raw in enumerate(items):
        raw_id = str(raw.get("id"))[:64] if isinstance(raw, dict) and "id" in raw else None
        try:
            body = _report_item.validate_python(raw)
            status, report = _file_one(session, viewer, body, "batch")
            results.append(
                BatchItemOut(
                    index=index,
                    id=str(report.id),
                    status=status,
                    report=report_out(session, report),
                )
            )
        except ValidationError as exc:
            results.append(
                BatchItemOut(
                    index=index,
                    id=raw_id,
                    status=422,
                    detail=clean_errors(exc.errors()),
                )
            )
        except IntegrityError:  # the same id filed concurrently twice over; the client retries
            results.append(
                BatchItemOut(
                    index=index,
                    id=raw_id,
                    status=409,
                    detail="filed concurrently by another request; send it again",
                )
            )
        except DataError as exc:  # a value the database cannot store, e.g. a NUL character
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
            results.append(
                BatchItemOut(index=index, id=raw_id, status=422, detail=f"refused: {reason}")
            )
        except DomainError as exc:
            results.append(
                BatchItemOut(index=index, id=raw_id, status=exc.status_code, detail=exc.message)
            )
    session.commit()
    return BatchOut(results=results)


def visible_report(session: Session, viewer: Viewer, report_id: uuid.UUID) -> Report:
    report = session.get(Report, report_id)
    if report is None or not can_see_report(session, viewer, report):
        raise NotFound(f"no report with id {report_id}")
    return report


def _visible_reports(viewer: Viewer) -> ColumnElement[bool]:
    if sees_everything(viewer):
        return true()
    return or_(
        Report.reporter_id == viewer.person_id,
        Report.cell_id.in_(select(Cell.id).where(visible_cells(viewer))),
    )


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
    conditions = [_visible_reports(viewer)]
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
        "reports": [report_out(session, r).model_dump(mode="json") for r in rows],
        "offset": offset,
        "limit": limit,
        "next_offset": next_offset,
    }


@router.get("/reports/heat")
def report_heat(
    session: SessionDep,
    viewer: CurrentViewer,
    bbox: Bbox = None,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
    within: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Counted patrols of the last `days` days in the box, summed on a grid of about 1/200 of
    the box's width: a heat layer never ships one point per report."""
    box = parse_bbox(bbox) or (-180.0, -90.0, 180.0, 90.0)
    step = max((box[2] - box[0]) / 200, 1e-4)
    conditions = [
        _visible_reports(viewer),
        Report.counted,
        Report.observed_at > func.now() - func.make_interval(0, 0, 0, days),
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
    return report_out(session, visible_report(session, viewer, report_id))


@router.post("/reports/{report_id}/review")
def review(
    report_id: uuid.UUID, body: ReviewIn, session: SessionDep, viewer: Reviewer
) -> ReportOut:
    """Accept or reject a flagged report; accepted reports count from then on."""
    report = visible_report(session, viewer, report_id)
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


@router.post("/reports/{report_id}/photos", status_code=201)
def upload_photo(
    report_id: uuid.UUID,
    session: SessionDep,
    viewer: CurrentViewer,
    response: Response,
    file: Annotated[UploadFile, File(description="JPEG, PNG or WebP, at most 10 MB")],
) -> PhotoOut:
    report = visible_report(session, viewer, report_id)
    if report.reporter_id != viewer.person_id:
        raise HTTPException(403, detail="only the reporter may add photos to a report")
    data = file.file.read(get_settings().photo_max_bytes + 1)
    photo, created = add_photo(session, report, data, viewer.person_id)
    session.commit()
    response.status_code = 201 if created else 200
    return PhotoOut(
        id=photo.id,
        report_id=report.id,
        sha256=photo.sha256,
        content_type=photo.content_type,
        size_bytes=photo.size_bytes,
        width=photo.width,
        height=photo.height,
        exif_lat=photo.exif_lat,
        exif_lon=photo.exif_lon,
        exif_taken_at=photo.exif_taken_at,
        report_flags=report.flags,
        report_counted=report.counted,
    )


@router.get("/reports/{report_id}/photos/{photo_id}", response_class=FileResponse)
def get_photo(
    report_id: uuid.UUID, photo_id: uuid.UUID, session: SessionDep, viewer: CurrentViewer
) -> FileResponse:
    report = visible_report(session, viewer, report_id)
    photo = session.get(Photo, photo_id)
    if photo is None or photo.report_id != report.id:
        raise NotFound(f"no photo {photo_id} on report {report_id}")
    path = photo_path(photo.sha256, extension_of(photo))
    if not path.exists():
        raise HTTPException(503, detail="the photo file is missing from the photo store")
    return FileResponse(
        path,
        media_type=photo.content_type,
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/patrols", status_code=201, responses={200: {"model": TrackOut}})
def post_patrol(
    body: TrackIn, session: SessionDep, viewer: Reporter, response: Response
) -> TrackOut:
    """A patrol with a GPS track; its points inside your cells count as patrols there."""
    data = TrackData(
        id=body.id,
        started_at=body.started_at,
        ended_at=body.ended_at,
        coordinates=[(x, y) for x, y in body.track.coordinates],
        times=body.times,
        crs=body.crs,
        accuracy_m=body.accuracy_m,
    )
    result = file_track(
        session, person_id=viewer.person_id, data=data, received_at=datetime.now(UTC)
    )
    session.commit()
    response.status_code = 201 if result.created else 200
    p = result.patrol
    return TrackOut(
        id=p.id,
        counted=p.counted,
        flags=p.flags,
        points=p.points,
        counted_points=p.counted_points,
        cells=result.cells,
    )
