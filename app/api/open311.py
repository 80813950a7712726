"""Open311 GeoReport v2 (SPEC §6): public-complaint channels (hotlines, WeChat portals) file
complaints as hotspots with source `complaint` and read their status back (open/closed).

Every route answers JSON at `.json` and GeoReport's XML at `.xml` (the GeoReport v2 default,
which existing 311 clients ask for), both from one mapping (app/domain/hotspots/georeport.py).
Open311 clients expect its own error shape, a list of {"code", "description"} (XML:
`<errors><error><code/><description/></error></errors>`); these routes answer errors that
way, in the format the path asks for (still with 4xx status codes). POST needs an `api_key`
listed in the setting GRIDWATCH_OPEN311_KEYS. POSTs are limited per client address
(GRIDWATCH_OPEN311_POSTS_PER_MINUTE), and so are wrong keys
(GRIDWATCH_OPEN311_WRONG_KEYS_PER_MINUTE: beyond it every POST from that address waits for the
next minute), so keys cannot be guessed at speed."""

from __future__ import annotations

import hmac
import math
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from app.api.ratelimit import client_address
from app.config import get_settings
from app.db import SessionDep
from app.domain import audit
from app.domain.errors import DomainError, TooManyAttempts
from app.domain.hotspots import georeport
from app.domain.hotspots.cases import Actor, HotspotData
from app.domain.hotspots.opening import create_hotspot
from app.domain.people import limits
from app.domain.reports.categories import CATEGORIES
from app.domain.timeparse import parse_instant

router = APIRouter(prefix="/open311/v2", tags=["open311"])
MAX_FIELD = 4000


class Open311Error(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description = status, description
        self.retry_after = retry_after


XML = "application/xml; charset=utf-8"
# How the XML routes are documented (OpenAPI): their answers and errors are XML.
_XML_BODY = {"content": {"application/xml": {"schema": {"type": "string"}}}}


def xml_route(status: int = 200) -> dict[str, Any]:
    """The route's arguments that document an XML answer (`status`) and XML errors."""
    errors = {
        code: {"description": "`<errors><error><code/><description/></error></errors>`"} | _XML_BODY
        for code in (400, 403, 404, 429)
    }
    return {
        "status_code": status,
        "response_class": Response,
        "responses": {status: {"description": "GeoReport v2 XML"} | _XML_BODY} | errors,
    }


def xml_answer(root: str, item: str, rows: list[dict[str, Any]], status: int = 200) -> Response:
    return Response(georeport.xml(root, item, rows), status_code=status, media_type=XML)


def install(app: FastAPI) -> None:
    @app.exception_handler(Open311Error)
    async def open311_error(request: Request, exc: Open311Error) -> Response:
        headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
        rows = [georeport.error(exc.status, exc.description)]
        if request.url.path.endswith(".xml"):
            response = xml_answer("errors", "error", rows, exc.status)
            response.headers.update(headers or {})
            return response
        return JSONResponse(rows, status_code=exc.status, headers=headers)


@router.get("/services.json")
def services() -> list[dict[str, Any]]:
    return georeport.services()


@router.get("/services.xml", **xml_route())
def services_xml() -> Response:
    return xml_answer("services", "service", georeport.services())


def _channel(api_key: str) -> str | None:
    for i, key in enumerate(get_settings().open311_key_list, start=1):
        if hmac.compare_digest(api_key.encode(), key.encode()):
            return f"open311:{i}"
    return None


def _limited(request: Request, session: SessionDep) -> str:
    """Count the POST against its address; refuse an address over its POST limit or its
    wrong-key limit (429 with Retry-After). The client's address."""
    settings = get_settings()
    address = client_address(request)
    try:
        limits.count(
            session,
            limits.OPEN311_POST,
            address,
            settings.open311_posts_per_minute,
            "Open311 requests",
        )
        limits.check(
            session,
            limits.OPEN311_WRONG_KEY,
            address,
            settings.open311_wrong_keys_per_minute,
            "wrong api_keys",
        )
    except TooManyAttempts as exc:
        raise Open311Error(429, exc.message, exc.retry_after) from None
    finally:
        session.commit()
    return address


def _count_wrong_key(session: Session, address: str) -> None:
    try:
        limits.count(
            session,
            limits.OPEN311_WRONG_KEY,
            address,
            get_settings().open311_wrong_keys_per_minute,
            "wrong api_keys",
        )
    except TooManyAttempts:
        pass  # this one is answered 403 all the same; the next waits
    finally:
        session.commit()


def _float(form: dict[str, str], name: str, low: float, high: float) -> float:
    raw = form.get(name, "").strip()
    if not raw:
        raise Open311Error(400, f"{name} is required")
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number, got {raw[:40]!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise Open311Error(400, f"{name} must lie between {low:g} and {high:g}")
    return value


async def _post(request: Request, session: Session, address: str) -> list[dict[str, Any]]:
    try:
        raw_form = await request.form()
    except Exception:  # malformed multipart or urlencoded bodies
        raise Open311Error(400, "the body must be application/x-www-form-urlencoded") from None
    form = {k: v for k, v in raw_form.items() if isinstance(v, str)}
    channel = _channel(form.get("api_key", ""))
    if channel is None:
        await run_in_threadpool(_count_wrong_key, session, address)
        raise Open311Error(403, "invalid api_key")
    audit.act_as(session, audit.Actor(channel))
    code = form.get("service_code", "")
    if code not in CATEGORIES:
        raise Open311Error(400, f"unknown service_code {code[:64]!r}; see services.json")
    lat = _float(form, "lat", -90, 90)
    lon = _float(form, "long", -180, 180)
    description = (form.get("description") or CATEGORIES[code]).strip()[:MAX_FIELD]
    contact = {
        k: form[k][:200]
        for k in ("email", "first_name", "last_name", "phone", "device_id", "address_string")
        if form.get(k)
    }
    try:
        hotspot, _ = create_hotspot(
            session,
            actor=Actor(label=channel),
            channel=channel,
            contact=contact or None,
            data=HotspotData(
                lat=lat, lon=lon, category=code, description=description, source="complaint"
            ),
        )
    except DomainError as exc:
        raise Open311Error(400, exc.message) from None
    session.commit()
    notice = (
        "已受理 received" if hotspot.cell_id else "该位置不在监管网格内 outside the supervised grid"
    )
    return [{"service_request_id": str(hotspot.id), "service_notice": notice, "account_id": None}]


@router.post("/requests.json", status_code=201)
async def post_request(
    request: Request, session: SessionDep, address: Annotated[str, Depends(_limited)]
) -> list[dict[str, Any]]:
    return await _post(request, session, address)


@router.post("/requests.xml", **xml_route(201))
async def post_request_xml(
    request: Request, session: SessionDep, address: Annotated[str, Depends(_limited)]
) -> Response:
    rows = await _post(request, session, address)
    return xml_answer("service_requests", "request", rows, status=201)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise Open311Error(404, f"no service request {value.strip()[:64]!r}") from None


def _listed(
    session: SessionDep,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    instants = {}
    for name, value in (("start_date", start_date), ("end_date", end_date)):
        if value:
            try:
                instants[name] = parse_instant(value)
            except ValueError as exc:
                raise Open311Error(400, f"{name}: {exc}") from None
    wanted = set(status.split(",")) if status else None
    if wanted is not None and not wanted <= {"open", "closed"}:
        raise Open311Error(400, "status must be open, closed or both")
    hotspots = georeport.find(
        session,
        ids=[_uuid(v) for v in service_request_id.split(",")[:100]] if service_request_id else None,
        service_codes=service_code.split(",") if service_code else None,
        start=instants.get("start_date"),
        end=instants.get("end_date"),
        statuses=wanted,
    )
    return georeport.requests(session, hotspots)


Listed = Annotated[list[dict[str, Any]], Depends(_listed)]


@router.get("/requests.json")
def list_requests(rows: Listed) -> list[dict[str, Any]]:
    return rows


@router.get("/requests.xml", **xml_route())
def list_requests_xml(rows: Listed) -> Response:
    return xml_answer("service_requests", "request", rows)


def _one(request_id: str, session: SessionDep) -> list[dict[str, Any]]:
    hotspot = georeport.get(session, _uuid(request_id))
    if hotspot is None:
        raise Open311Error(404, f"no service request {request_id[:64]!r}")
    return georeport.requests(session, [hotspot])


One = Annotated[list[dict[str, Any]], Depends(_one)]


@router.get("/requests/{request_id}.json")
def get_request(rows: One) -> list[dict[str, Any]]:
    return rows


@router.get("/requests/{request_id}.xml", **xml_route())
def get_request_xml(rows: One) -> Response:
    return xml_answer("service_requests", "request", rows)
