"""Report photos (SPEC §6): the upload, kept byte-for-byte as the original, and the two ways to
read it back — the original, and the display-size copy that pages show."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Response, UploadFile
from fastapi.responses import FileResponse, StreamingResponse
from sqlalchemy.orm import Session

from app.api.deps import CurrentViewer
from app.config import get_settings
from app.db import SessionDep
from app.domain.errors import NotFound
from app.domain.people.scope import Viewer, find_visible, get_visible
from app.domain.reports.photos import add_photo, display_copy, extension_of, photo_key
from app.domain.reports.photostore import PhotoMissing, photo_store
from app.models import Photo, Report
from app.schemas.reports import PhotoOut

router = APIRouter(prefix="/api/v1", tags=["reports"])


@router.post("/reports/{report_id}/photos", status_code=201)
def upload_photo(
    report_id: uuid.UUID,
    session: SessionDep,
    viewer: CurrentViewer,
    response: Response,
    file: Annotated[
        UploadFile,
        File(description="JPEG, PNG or WebP as taken, at most 20 MB (photo_max_bytes)"),
    ],
) -> PhotoOut:
    """Add a photo, kept byte-for-byte; the answer carries the report's flags and whether it
    still counts with this photo on it (duplicate_photo, exif_mismatch)."""
    report = get_visible(session, viewer, Report, report_id)
    if report.reporter_id != viewer.person_id:
        raise HTTPException(403, detail="only the reporter may add photos to a report")
    data = file.file.read(get_settings().photo_max_bytes + 1)
    photo, created = add_photo(session, report, data, viewer.person_id)
    session.commit()
    response.status_code = 201 if created else 200
    return PhotoOut.of(
        photo,
        report_flags=report.flags,
        report_counted=report.counted,
        url=f"/api/v1/reports/{report.id}/photos/{photo.id}",
        display_url=f"/api/v1/reports/{report.id}/photos/{photo.id}/display",
    )


def _visible_photo(
    session: Session, viewer: Viewer, report_id: uuid.UUID, photo_id: uuid.UUID
) -> Photo:
    """The photo as its report's viewers see it (missing, out of scope or on another report:
    the same 404)."""
    photo = find_visible(session, viewer, Photo, photo_id)
    if photo is None or photo.report_id != report_id:
        raise NotFound(f"no photo {photo_id} on report {report_id}")
    return photo


PHOTO_HEADERS = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}
MISSING = "the photo file is missing from the photo store"


def _stored(key: str | None, media_type: str) -> Response:
    """The stored file: from the directory store as a file (with ranges), from a bucket as a
    stream, never whole in memory."""
    if key is None:
        raise HTTPException(503, detail=MISSING)
    store = photo_store()
    path = store.local_path(key)
    if path is not None:
        if not path.is_file():
            raise HTTPException(503, detail=MISSING)
        return FileResponse(path, media_type=media_type, headers=PHOTO_HEADERS)
    try:
        opened = store.open(key)
    except PhotoMissing:
        raise HTTPException(503, detail=MISSING) from None
    headers = {**PHOTO_HEADERS, "Content-Length": str(opened.size)}
    return StreamingResponse(opened.chunks, media_type=media_type, headers=headers)


@router.get("/reports/{report_id}/photos/{photo_id}", response_class=FileResponse)
def get_photo(
    report_id: uuid.UUID, photo_id: uuid.UUID, session: SessionDep, viewer: CurrentViewer
) -> Response:
    """The original photo, byte-for-byte as uploaded (EXIF included)."""
    photo = _visible_photo(session, viewer, report_id, photo_id)
    return _stored(photo_key(photo.sha256, extension_of(photo)), photo.content_type)


@router.get("/reports/{report_id}/photos/{photo_id}/display", response_class=FileResponse)
def get_photo_display(
    report_id: uuid.UUID, photo_id: uuid.UUID, session: SessionDep, viewer: CurrentViewer
) -> Response:
    """The display-size JPEG derived from the original (at most 1600 px, upright, no EXIF):
    what pages show, with the original one link away."""
    photo = _visible_photo(session, viewer, report_id, photo_id)
    return _stored(display_copy(photo), "image/jpeg")
