"""The command office's case desk (SPEC §6 `GET /desk`) and the two reads only it needs: who a
case may be dispatched to, and the case file (cell and outline, roster when found, photos).
Lists and steps go through /api/v1/hotspots like every other client."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, literal, select

from app import clock
from app.api.deps import ACCOUNTABLE_ROLES, CurrentViewer, session_cookie
from app.api.pages import _lang, page_viewer, templates
from app.config import get_settings
from app.db import SessionDep
from app.domain.hotspots import desk, lifecycle
from app.domain.people.scope import Viewer, get_visible, sees_everything
from app.models import Cell, Hotspot
from app.models.base import LTree
from app.models.hotspots import SOURCES
from app.security import csrf_token_for
from map_ui.builder import basemap, script_json
from map_ui.desk_i18n import DESK_STRINGS
from map_ui.i18n import category_labels
from map_ui.i18n_plan import PLAN_STRINGS

router = APIRouter()
AREA_CHOICES = 400  # districts and streets offered by the area filter


def _visible_case(session: Any, viewer: Viewer, hotspot_id: uuid.UUID) -> Hotspot:
    return get_visible(session, viewer, Hotspot, hotspot_id)


@router.get("/api/v1/hotspots/{hotspot_id}/assignees", tags=["hotspots"])
def case_assignees(
    hotspot_id: uuid.UUID, session: SessionDep, viewer: CurrentViewer
) -> dict[str, Any]:
    """Who this case may be dispatched to now: exactly whom the dispatch step accepts (on duty
    in the case's cell, or a supervisor or command officer whose scope covers it), on-duty
    people first, leaders before members."""
    hotspot = _visible_case(session, viewer, hotspot_id)
    return {"assignees": desk.assignees(session, viewer, hotspot, clock.now())}


@router.get("/api/v1/hotspots/{hotspot_id}/file", tags=["hotspots"])
def case_file(hotspot_id: uuid.UUID, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    """The case file the desk shows: the cell with its outline, the roster on duty when the
    case was found, the finding and evidence reports with their flags and photos."""
    hotspot = _visible_case(session, viewer, hotspot_id)
    return desk.case_file(session, viewer, hotspot)


def _areas(session: Any, viewer: Viewer) -> list[dict[str, Any]]:
    """The districts and streets under the reader's scope (none for a leader, whose cells are
    few): the area filter's choices."""
    if viewer.role == "leader":
        return []
    depth = 1
    conditions = []
    if not sees_everything(viewer):
        scope = session.get(Cell, viewer.scope_cell_id)
        if scope is None:
            return []
        conditions.append(Cell.path.op("<@")(literal(scope.path, LTree)))
        depth = len(scope.path.split("."))
    level = func.nlevel(Cell.path)
    rows = session.execute(
        select(Cell.code, Cell.name, level - depth)
        .where(*conditions, level > depth, level <= depth + 2, Cell.is_leaf.is_(False))
        .order_by(Cell.code)
        .limit(AREA_CHOICES)
    ).all()
    return [{"code": code, "name": name, "depth": int(d)} for code, name, d in rows]


@router.get("/desk", response_class=HTMLResponse, include_in_schema=False)
def desk_page(request: Request, session: SessionDep, lang: str | None = None) -> Response:
    language = _lang(request, lang)
    viewer = page_viewer(request, session)
    if viewer is None:  # back to this very list or case once signed in
        here = "/desk" + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(
            f"/login?{urlencode({'next': here, 'lang': language})}", status_code=303
        )
    words = DESK_STRINGS[language] | PLAN_STRINGS[language]
    if viewer.role not in desk.DESK_ROLES:
        return HTMLResponse(words["no_access"], status_code=403)
    layer = basemap(get_settings())
    labels = category_labels(language)
    config = {
        "lang": language,
        "strings": words,
        "username": viewer.username,
        "role": viewer.role,
        "statuses": list(lifecycle.STEPS),
        "sources": list(SOURCES),
        "categories": labels,
        "areas": _areas(session, viewer),
        "basemap": None
        if layer is None
        else {"url": layer[0], "attribution": layer[1], "subdomains": layer[2] or ["a", "b", "c"]},
    }
    response = templates.TemplateResponse(
        request,
        "desk.html",
        {
            "lang": language,
            "t": words,
            "username": viewer.username,
            "other": "en" if language == "zh" else "zh",
            "csrf": csrf_token_for(session_cookie(request) or ""),
            "config": script_json(config),
            "show_stats": viewer.role in ACCOUNTABLE_ROLES,
        },
    )
    response.set_cookie("gw_lang", language, max_age=365 * 86400, samesite="lax")
    return response
