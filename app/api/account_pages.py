"""The password page (/password): where a one-time password leads at the first sign-in, and
where anyone signed in may change their own password. Pages only: the JSON route is
POST /api/v1/auth/password (app/api/auth.py); both call the same domain function."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.api.deps import session_cookie, signed_in
from app.api.pages import page_language, safe_next, templates
from app.db import SessionDep
from app.domain import audit
from app.domain.errors import DomainError
from app.domain.people.accounts import change_own_password
from app.security import MIN_PASSWORD_LENGTH, csrf_ok, csrf_token_for, read_access_token
from map_ui.i18n_onboarding import ONBOARDING

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    lang: str,
    next_: str,
    one_time: bool,
    username: str,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "password.html",
        {
            "lang": lang,
            "t": ONBOARDING[lang],
            "next": next_,
            "one_time": one_time,
            "username": username,
            "csrf": csrf_token_for(session_cookie(request) or ""),
            "error": error,
            "min_length": MIN_PASSWORD_LENGTH,
            "other": "en" if lang == "zh" else "zh",
        },
        status_code=status,
    )


@router.get("/password", response_class=HTMLResponse)
def password_form(
    request: Request, session: SessionDep, next: str | None = None, lang: str | None = None
) -> Response:
    language = page_language(request, lang)
    token = session_cookie(request)
    found = signed_in(session, read_access_token(token)) if token else None
    if found is None:
        target = quote(f"/password?next={safe_next(next)}", safe="")
        return RedirectResponse(f"/login?next={target}&lang={language}", status_code=303)
    viewer, one_time = found
    return _page(request, language, safe_next(next), one_time, viewer.username)


@router.post("/password")
def change_password(
    request: Request,
    session: SessionDep,
    current_password: Annotated[str, Form(max_length=256)],
    new_password: Annotated[str, Form(max_length=256)],
    repeat_password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=512)] = "/map",
) -> Response:
    language = page_language(request, None)
    token = session_cookie(request)
    claims = read_access_token(token) if token else None
    found = signed_in(session, claims)
    if token is None or claims is None or found is None:
        return RedirectResponse(f"/login?lang={language}", status_code=303)
    if not csrf_ok(token, csrf):
        return HTMLResponse("CSRF proof missing", status_code=403)
    viewer, one_time = found
    target = safe_next(next)
    if new_password != repeat_password:
        error = ONBOARDING[language]["password_mismatch"]
        return _page(request, language, target, one_time, viewer.username, error, 422)
    audit.act_as(session, audit.Actor(viewer.username, viewer.person_id))
    try:
        change_own_password(
            session,
            person_id=viewer.person_id,
            current=current_password,
            new=new_password,
            keep_session=claims.session_id,
        )
    except DomainError as exc:
        session.rollback()
        return _page(request, language, target, one_time, viewer.username, exc.message, 422)
    session.commit()
    return RedirectResponse(target, status_code=303)
