"""Rankings (SPEC §6 `GET /stats`, `GET /api/v1/indicators`) and the monthly bulletin
(`GET /api/v1/bulletin`). The page, the API and the downloads are one ranking
(app/domain/rankings); files are built there and sent hashed and audited like every export."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from app import clock
from app.api.deps import ACCOUNTABLE_ROLES, Exporter, session_cookie
from app.api.exports import deliver, scope_of, send_table, write_hashed
from app.api.pages import page_language, page_viewer, templates
from app.api.params import Instant, Within
from app.db import ReadSessionDep, SessionDep
from app.domain.accountability.exportfile import FORMATS
from app.domain.errors import DomainError
from app.domain.people.scope import Viewer, sees_everything
from app.domain.rankings.bulletin import bulletin
from app.domain.rankings.bulletin_files import BULLETIN_FORMATS, write_bulletin
from app.domain.rankings.period import last_complete_month, month_bounds
from app.domain.rankings.ranking import ranking, ranking_table
from app.domain.supervision.gaps import selection_for
from app.domain.timeparse import local_zone
from app.models import Cell
from app.models.base import LTree
from app.security import csrf_token_for
from map_ui.builder import script_json
from map_ui.stats_i18n import STATS_STRINGS

router = APIRouter()
GROUPS = Literal["district", "street", "community", "leader", "person", "cell"]


@router.get(
    "/api/v1/indicators",
    tags=["gaps"],
    responses={200: {"content": {m: {} for m, _ in FORMATS.values()}}},
)
def indicator_table(
    session: SessionDep,
    read: ReadSessionDep,
    viewer: Exporter,
    from_: Annotated[Instant, Query(alias="from")],
    to: Instant,
    by: GROUPS = "district",
    within: Within = None,
    compare: Annotated[
        Literal["previous"] | None,
        Query(description="add each rate in the previous period of the same length"),
    ] = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Any:
    """Indicators per district, street, community, grid leader, person or cell over
    [from, to) (SPEC §5), ranked by the patrol requirement met, then the share of valid
    reports: the monthly 通报. `compare=previous` adds `previous` and `change` per row (the
    period before of the same length; whole calendar months compare with as many months).
    `format=csv|xlsx` downloads the same rows (CSV UTF-8 with BOM; XLSX with a frozen,
    filtered header in Chinese and English), hashed into the audit trail."""
    selection = selection_for(read, viewer, within)
    result = ranking(read, selection, from_, to, by, compare=compare is not None)
    if format == "json":
        return result.as_json()
    table = ranking_table(result)
    name = f"gridwatch-indicators-{by}-{from_:%Y%m%d}-{to:%Y%m%d}"
    return send_table(session, read, viewer, selection, table, format, from_, to, within, name)


@router.get(
    "/api/v1/bulletin",
    tags=["gaps"],
    responses={200: {"content": {m: {} for m, _ in BULLETIN_FORMATS.values()}}},
)
def monthly_bulletin(
    session: SessionDep,
    read: ReadSessionDep,
    viewer: Exporter,
    month: Annotated[
        str | None, Query(max_length=7, description="YYYY-MM; default the last complete month")
    ] = None,
    within: Within = None,
    format: Literal["json", "xlsx", "pdf"] = "xlsx",
    lang: Annotated[Literal["zh", "en"], Query(description="language of the file")] = "zh",
) -> Any:
    """The monthly bulletin (月度通报), one page ready to send: headline numbers, the ten worst
    communities, the cases overdue in the month and those missed by the grid."""
    start, end = month_bounds(month) if month else last_complete_month(clock.now())
    if start >= clock.now():
        raise DomainError("month must have begun: a bulletin reports on the past")
    selection = selection_for(read, viewer, within)
    scope, scope_cell = scope_of(read, selection, viewer)
    data = bulletin(read, selection, start, end, scope=scope, author=viewer.username)
    if format == "json":
        return data.as_json()
    written = write_hashed(lambda sink: write_bulletin(data, format, lang, sink))
    media_type, ext = BULLETIN_FORMATS[format]
    read.close()  # done reading; the audit entry goes to the primary
    return deliver(
        session,
        written.spool,
        written.sha256,
        written.size,
        filename=f"gridwatch-bulletin-{start.astimezone(data.zone):%Y-%m}.{ext}",
        media_type=media_type,
        action="export.bulletin",
        target=f"bulletin.{format}",
        cell_id=scope_cell,
        facts={
            "month": f"{start.astimezone(data.zone):%Y-%m}",
            "within": within,
            "scope": scope,
            "format": format,
            "lang": lang,
        },
    )


def _units(session: Session, viewer: Viewer) -> list[dict[str, Any]]:
    """The districts and streets the reader may narrow the ranking to."""
    conditions = []
    depth = 1
    if not sees_everything(viewer):
        scope = session.get(Cell, viewer.scope_cell_id)
        if scope is None:
            return []
        conditions.append(Cell.path.op("<@")(literal(scope.path, LTree)))
        depth = len(scope.path.split("."))
    level = func.nlevel(Cell.path)
    rows = session.execute(
        select(Cell.code, Cell.name, level - depth)
        .where(*conditions, level >= depth, level <= depth + 2, Cell.is_leaf.is_(False))
        .order_by(Cell.code)
        .limit(400)
    ).all()
    return [{"code": code, "name": name, "depth": int(d)} for code, name, d in rows]


@router.get("/stats", response_class=HTMLResponse, include_in_schema=False)
def stats_page(
    request: Request, session: SessionDep, read: ReadSessionDep, lang: str | None = None
) -> Response:
    language = page_language(request, lang)
    viewer = page_viewer(request, session)
    if viewer is None:
        here = "/stats" + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(
            f"/login?{urlencode({'next': here, 'lang': language})}", status_code=303
        )
    words = STATS_STRINGS[language]
    if viewer.role not in ACCOUNTABLE_ROLES:  # SPEC §7: who may export may rank
        return HTMLResponse(words["no_access"], status_code=403)
    start, end = last_complete_month(clock.now())
    config = {
        "lang": language,
        "strings": words,
        "areas": _units(read, viewer),
        "default_month": f"{start.astimezone(local_zone()):%Y-%m}",
        "default_from": start.isoformat(),
        "default_to": end.isoformat(),
        "now": clock.now().isoformat(),
    }
    response = templates.TemplateResponse(
        request,
        "stats.html",
        {
            "lang": language,
            "t": words,
            "username": viewer.username,
            "other": "en" if language == "zh" else "zh",
            "csrf": csrf_token_for(session_cookie(request) or ""),
            "config": script_json(config),
        },
    )
    response.set_cookie("gw_lang", language, max_age=365 * 86400, samesite="lax")
    return response
