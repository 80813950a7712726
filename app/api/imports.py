"""The administrator's import (SPEC §6 `GET /admin/import`): upload a grid file or a roster,
see a preview — counts, problems by line or feature, a map of the cells — then confirm.

POST /api/v1/imports/preview runs the import and rolls it back; POST /api/v1/imports runs it
for good, for the file previewed. Both call the functions the CLI's import-grid and
import-roster call (app/domain/onboarding.py). Uploads may be larger than other requests
(GRIDWATCH_IMPORT_MAX_BYTES, app/api/limits.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from app.api.deps import Admin, session_cookie
from app.api.pages import page_language, page_viewer, templates
from app.config import get_settings
from app.db import SessionDep
from app.domain.errors import InputRejected
from app.domain.onboarding import (
    ImportOutcome,
    confirm_import,
    kind_of,
    preview_import,
    saved_upload,
)
from app.security import csrf_token_for
from map_ui.builder import basemap, script_json
from map_ui.i18n import STRINGS
from map_ui.i18n_onboarding import ONBOARDING

router = APIRouter(prefix="/api/v1/imports", tags=["imports"])
pages = APIRouter(include_in_schema=False)

Kind = Literal["auto", "grid", "roster"]
UploadedFile = Annotated[
    UploadFile,
    File(
        description="a grid file (.zip with a Shapefile, .gpkg, .geojson) or a roster (.xlsx, .csv)"
    ),
]


class ImportAnswer(BaseModel):
    ok: bool = Field(description="false: the file has problems and nothing would be imported")
    source: str
    kind: str | None = None
    sha256: str | None = Field(None, description="of the file; confirming names it")
    counts: dict[str, int] = {}
    problems: list[str] = Field([], description="each names its line, row or feature")
    notes: list[str] = []
    warnings: list[str] = []
    cells: dict[str, Any] = Field({}, description="GeoJSON of (some of) the file's cells")
    total_cells: int = 0


def _answer(source: str, outcome: ImportOutcome) -> ImportAnswer:
    return ImportAnswer(ok=True, source=source, **vars(outcome))


@router.post("/preview")
def preview(
    session: SessionDep, viewer: Admin, file: UploadedFile, kind: Annotated[Kind, Form()] = "auto"
) -> ImportAnswer:
    """What importing the file would do — every check of the import itself, then rolled
    back. A file with problems answers ok=false with each problem named."""
    source = file.filename or "upload"
    try:
        with saved_upload(file.filename, file.file) as path:
            return _answer(source, preview_import(session, kind_of(source, kind), path))
    except InputRejected as exc:
        session.rollback()
        return ImportAnswer(ok=False, source=source, problems=exc.problems)


@router.post("", responses={409: {}, 422: {}})
def confirm(
    session: SessionDep,
    viewer: Admin,
    file: UploadedFile,
    preview_sha256: Annotated[str, Form(max_length=64, description="sha256 from the preview")],
    kind: Annotated[Kind, Form()] = "auto",
) -> ImportAnswer:
    """Import the previewed file, all or nothing (422 naming every problem, 409 when the file
    is not the one previewed)."""
    source = file.filename or "upload"
    with saved_upload(file.filename, file.file) as path:
        outcome = confirm_import(session, kind_of(source, kind), path, preview_sha256)
    session.commit()
    return _answer(source, outcome)


@pages.get("/admin/import", response_class=HTMLResponse)
def import_page(request: Request, session: SessionDep, lang: str | None = None) -> Response:
    language = page_language(request, lang)
    viewer = page_viewer(request, session)
    if viewer is None:
        return RedirectResponse(f"/login?next=/admin/import&lang={language}", status_code=303)
    if viewer.role != "admin":
        return HTMLResponse(ONBOARDING[language]["no_access"], status_code=403)
    settings = get_settings()
    layer = basemap(settings)
    config = {
        "strings": ONBOARDING[language],
        "basemap": {"url": layer[0], "attribution": layer[1], "subdomains": layer[2]}
        if layer
        else None,
        "max_bytes": settings.import_max_bytes,
    }
    response = templates.TemplateResponse(
        request,
        "import.html",
        {
            "lang": language,
            "t": ONBOARDING[language],
            "common": STRINGS[language],
            "username": viewer.username,
            "other": "en" if language == "zh" else "zh",
            "csrf": csrf_token_for(session_cookie(request) or ""),
            "config": script_json(config),
        },
    )
    response.set_cookie("gw_lang", language, max_age=365 * 86400, samesite="lax")
    return response
