"""Browser pages: sign-in (session cookie + CSRF token), sign-out, and the coverage map."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, literal, select

from app.api.deps import (
    ACCOUNTABLE_ROLES,
    secure_request,
    session_cookie,
    signed_in,
    viewer_for,
)
from app.api.ratelimit import throttle
from app.config import PROJECT_ROOT, get_settings
from app.db import ReadSessionDep, SessionDep
from app.domain import audit
from app.domain.errors import TooManyAttempts
from app.domain.hotspots.desk import DESK_ROLES
from app.domain.people import sessions
from app.domain.people.accounts import password_change_required
from app.domain.people.scope import Viewer
from app.domain.people.signin import SignInRefused, sign_in
from app.domain.reports.photos import PHOTO_TYPES
from app.domain.supervision.gaps import selection_for
from app.models import Cell, Person
from app.models.base import LTree
from app.security import (
    csrf_cookie_name,
    csrf_ok,
    csrf_token_for,
    read_access_token,
    session_cookie_name,
)
from map_ui.builder import MapContext, build_map, script_json
from map_ui.i18n import STATUS_COLOURS, STRINGS, category_labels, pick
from map_ui.i18n_plan import PLAN_STRINGS, source_type_labels

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=PROJECT_ROOT / "map_ui" / "templates")
# SPEC §7: everyone sees cells, gaps and the map — inspectors and leaders their own cells.
MAP_ROLES = ("inspector", "leader", "supervisor", "command", "discipline", "admin")


def _lang(request: Request, lang: str | None) -> str:
    return pick(lang or request.cookies.get("gw_lang"))


def _safe_next(target: str | None) -> str:
    """Only local paths: no open redirect to another site."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/map"


# The same two, for the other page routers (the password page, the import page).
page_language, safe_next = _lang, _safe_next


def page_viewer(request: Request, session: SessionDep) -> Viewer | None:
    """The signed-in person of the session cookie; None when there is none. One who signed
    in with a one-time password is sent to the password page first."""
    token = session_cookie(request)
    found = signed_in(session, read_access_token(token)) if token else None
    if found is None:
        return None
    viewer, must_change_password = found
    if must_change_password:
        target = quote(request.url.path, safe="/")
        raise HTTPException(
            status.HTTP_303_SEE_OTHER, headers={"Location": f"/password?next={target}"}
        )
    return viewer


def _login_page(
    request: Request,
    lang: str,
    next_: str,
    error: str | None = None,
    username: str = "",
    status: int = 200,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "login.html",
        {
            "lang": lang,
            "t": STRINGS[lang],
            "next": next_,
            "error": error,
            "username": username,
            "other": "en" if lang == "zh" else "zh",
        },
        status_code=status,
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, lang: str | None = None) -> Response:
    language = _lang(request, lang)
    page = _login_page(request, language, _safe_next(next))
    if lang:  # chosen here: the page signed into next speaks it too
        page.set_cookie("gw_lang", language, max_age=365 * 86400, samesite="lax")
    return page


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=512)] = "/map",
) -> Response:
    lang = _lang(request, None)
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        # Login CSRF: another site must not sign this browser into an account of its choice.
        return HTMLResponse("sign-in from another site refused", status_code=403)
    try:
        address = throttle(request, session)
        token = sign_in(session, username, password, address)
    except TooManyAttempts as exc:  # from this address, or for this username
        page = _login_page(
            request, lang, _safe_next(next), exc.message, username=username, status=429
        )
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except SignInRefused:
        return _login_page(
            request,
            lang,
            _safe_next(next),
            STRINGS[lang]["bad_login"],
            username=username,
            status=401,
        )
    target = _safe_next(next)
    if password_change_required(session, username):  # a one-time password: choose one first
        target = f"/password?next={quote(target, safe='/')}"
    response = RedirectResponse(target, status_code=303)
    secure = secure_request(request)
    max_age = get_settings().token_minutes * 60
    # Over HTTPS the names carry the __Host- prefix, which the browser accepts only with
    # Secure, Path=/ and no Domain (set exactly so here).
    response.set_cookie(
        session_cookie_name(secure),
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    response.set_cookie(
        csrf_cookie_name(secure),
        csrf_token_for(token),
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return response


@router.post("/logout")
def logout(
    request: Request, session: SessionDep, csrf: Annotated[str, Form(max_length=128)] = ""
) -> Response:
    """End this browser's session (the token is refused from now on) and drop its cookies."""
    token = session_cookie(request)
    if token and not csrf_ok(token, csrf):
        return HTMLResponse("CSRF proof missing", status_code=403)
    claims = read_access_token(token) if token else None
    viewer = viewer_for(session, claims)
    if viewer is not None and claims is not None:
        audit.act_as(session, audit.Actor(viewer.username, viewer.person_id))
        sessions.end_session(session, claims.session_id, "logout")
        audit.record(
            session, "auth.logout", "person", viewer.person_id, after={"sessions_ended": 1}
        )
        session.commit()
    secure = secure_request(request)
    response = RedirectResponse("/login", status_code=303)
    for name in (session_cookie_name(secure), csrf_cookie_name(secure)):
        response.delete_cookie(name, path="/", secure=secure)
    return response


def _scope_name(session: SessionDep, viewer: Viewer) -> str | None:
    """The name of the viewer's scope cell (None: the whole territory or their own cells)."""
    if viewer.scope_cell_id is None or viewer.role not in ("supervisor", "command", "discipline"):
        return None
    cell = session.get(Cell, viewer.scope_cell_id)
    return cell.name if cell else None


@router.get("/map", response_class=HTMLResponse)
def coverage_map(
    request: Request, session: SessionDep, read: ReadSessionDep, lang: str | None = None
) -> Response:
    language = _lang(request, lang)
    viewer = page_viewer(request, session)
    if viewer is None:
        return RedirectResponse(f"/login?next=/map&lang={language}", status_code=303)
    if viewer.role not in MAP_ROLES:
        return HTMLResponse(STRINGS[language]["no_access"], status_code=403)
    selection = selection_for(read, viewer, None)
    conditions = []
    depth = 2  # the filter offers the children of the scope's root (districts of a city)
    if selection.root_path is not None:
        conditions.append(Cell.path.op("<@")(literal(selection.root_path, LTree)))
        depth = len(selection.root_path.split(".")) + 1
    extent = func.ST_Extent(Cell.geom)
    box = read.execute(
        select(
            func.ST_XMin(extent), func.ST_YMin(extent), func.ST_XMax(extent), func.ST_YMax(extent)
        ).where(Cell.is_leaf, *conditions)
    ).one()
    bounds = (
        (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
        if box[0] is not None
        else (73.5, 18.0, 135.0, 53.5)
    )
    districts = [
        (code, name, [[miny, minx], [maxy, maxx]])
        for code, name, minx, miny, maxx, maxy in read.execute(
            select(
                Cell.code,
                Cell.name,
                func.ST_XMin(Cell.geom),
                func.ST_YMin(Cell.geom),
                func.ST_XMax(Cell.geom),
                func.ST_YMax(Cell.geom),
            )
            .where(func.nlevel(Cell.path) == depth, *conditions)
            .order_by(Cell.code)
        )
    ]
    token = session_cookie(request) or ""
    person = read.get(Person, viewer.person_id)
    html = build_map(
        get_settings(),
        MapContext(
            lang=language,
            bounds=bounds,
            districts=districts,
            username=viewer.username,
            csrf=csrf_token_for(token),
            person_name=(person.name if person else "") or viewer.username,
            can_export=viewer.role in ACCOUNTABLE_ROLES,
            pages=[
                page
                for page, roles in (("desk", DESK_ROLES), ("stats", ACCOUNTABLE_ROLES))
                if viewer.role in roles
            ],
            scope_name=_scope_name(read, viewer),
        ),
    )
    response = HTMLResponse(html)
    response.set_cookie("gw_lang", language, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/m/", response_class=HTMLResponse)
def phone_app(request: Request, session: SessionDep, lang: str | None = None) -> Response:
    """The inspectors' phone app (SPEC §6 test hooks): two taps from home to a filed patrol."""
    language = _lang(request, lang)
    viewer = page_viewer(request, session)
    if viewer is None:
        return RedirectResponse(f"/login?next=/m/&lang={language}", status_code=303)
    labels = category_labels(language)
    person = session.get(Person, viewer.person_id)
    name = (person.name if person else "") or viewer.username
    strings = STRINGS[language] | PLAN_STRINGS[language]
    config = {
        "strings": strings,
        "colours": STATUS_COLOURS,
        "username": viewer.username,
        # The phone refuses a photo over the limit before queueing it, never alters it.
        "photo_max_bytes": get_settings().photo_max_bytes,
        "photo_types": sorted(PHOTO_TYPES),
        "categories": labels,
        "source_types": source_type_labels(language),
    }
    response = templates.TemplateResponse(
        request,
        "phone.html",
        {
            "lang": language,
            "t": strings,
            "username": viewer.username,
            "name": name,
            "other": "en" if language == "zh" else "zh",
            "csrf": csrf_token_for(session_cookie(request) or ""),
            "categories": list(labels.items()),
            "config": script_json(config),
        },
    )
    response.set_cookie("gw_lang", language, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/m/sw.js")
def service_worker() -> FileResponse:
    return FileResponse(
        PROJECT_ROOT / "map_ui" / "static" / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )
