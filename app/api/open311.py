"""Open311 GeoReport v2 (SPEC §6): public-complaint channels (hotlines, WeChat portals) file
complaints as hotspots with source `complaint` and read their status back (open/closed).

Open311 clients expect its own error shape, a list of {"code", "description"}; these routes
answer errors that way (still with 4xx status codes). POST needs an `api_key` listed in the
setting GRIDWATCH_OPEN311_KEYS. POSTs are limited per client address
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
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.ratelimit import client_address
from app.config import get_settings
from app.db import SessionDep
from app.domain import audit
from app.domain.errors import DomainError, TooManyAttempts
from app.domain.hotspots import lifecycle
from app.domain.hotspots.cases import Actor, HotspotData
from app.domain.hotspots.opening import create_hotspot
from app.domain.people import limits
from app.domain.reports.categories import CATEGORIES
from app.domain.timeparse import parse_instant
from app.models import Hotspot, HotspotEvent

router = APIRouter(prefix="/open311/v2", tags=["open311"])
MAX_FIELD = 4000


class Open311Error(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description = status, description
        self.retry_after = retry_after


def install(app: FastAPI) -> None:
    @app.exception_handler(Open311Error)
    async def open311_error(_: Request, exc: Open311Error) -> JSONResponse:
        headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
        return JSONResponse(
            [{"code": exc.status, "description": exc.description}],
            status_code=exc.status,
            headers=headers,
        )


@router.get("/services.json")
def services() -> list[dict[str, Any]]:
    return [
        {
            "service_code": code,
            "service_name": label,
            "description": label,
            "metadata": False,
            "type": "realtime",
            "keywords": code.replace("_", ", "),
            "group": "环境污染",
        }
        for code, label in CATEGORIES.items()
    ]


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


@router.post("/requests.json", status_code=201)
async def post_request(
    request: Request, session: SessionDep, address: Annotated[str, Depends(_limited)]
) -> list[dict[str, Any]]:
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


def _request_out(session: Session, h: Hotspot) -> dict[str, Any]:
    # Only the answer that finished the case is public; working notes stay inside.
    last_note = (
        session.scalar(
            select(HotspotEvent.note)
            .where(HotspotEvent.hotspot_id == h.id, HotspotEvent.to_status == h.status)
            .order_by(HotspotEvent.id.desc())
            .limit(1)
        )
        if h.status in lifecycle.FINISHED
        else None
    )
    return {
        "service_request_id": str(h.id),
        "status": "open" if lifecycle.is_open(h.status) else "closed",
        "status_notes": last_note,
        "service_name": CATEGORIES.get(h.category, h.category),
        "service_code": h.category,
        "description": h.description,
        "agency_responsible": "网格化监管",
        "service_notice": None,
        "requested_datetime": h.created_at.isoformat(),
        "updated_datetime": h.updated_at.isoformat(),
        "expected_datetime": h.deadline.isoformat() if h.deadline else None,
        "address": None,
        "lat": h.lat,
        "long": h.lon,
        "media_url": None,
    }


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise Open311Error(404, f"no service request {value.strip()[:64]!r}") from None


@router.get("/requests.json")
def list_requests(
    session: SessionDep,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    # Only what came in through Open311 is visible through it.
    query = select(Hotspot).where(Hotspot.channel.like("open311:%"))
    if service_request_id:
        ids = [_uuid(v) for v in service_request_id.split(",")[:100]]
        query = query.where(Hotspot.id.in_(ids))
    if service_code:
        query = query.where(Hotspot.category.in_(service_code.split(",")))
    for name, value, op in (("start_date", start_date, "ge"), ("end_date", end_date, "lt")):
        if value:
            try:
                instant = parse_instant(value)
            except ValueError as exc:
                raise Open311Error(400, f"{name}: {exc}") from None
            query = query.where(getattr(Hotspot.created_at, f"__{op}__")(instant))
    if status:
        wanted = set(status.split(","))
        if not wanted <= {"open", "closed"}:
            raise Open311Error(400, "status must be open, closed or both")
        if wanted == {"open"}:
            query = query.where(Hotspot.status.not_in(lifecycle.FINISHED))
        elif wanted == {"closed"}:
            query = query.where(Hotspot.status.in_(lifecycle.FINISHED))
    rows = session.scalars(query.order_by(Hotspot.created_at.desc()).limit(1000)).all()
    return [_request_out(session, h) for h in rows]


@router.get("/requests/{request_id}.json")
def get_request(request_id: str, session: SessionDep) -> list[dict[str, Any]]:
    hotspot = session.get(Hotspot, _uuid(request_id))
    if hotspot is None or not (hotspot.channel or "").startswith("open311:"):
        raise Open311Error(404, f"no service request {request_id[:64]!r}")
    return [_request_out(session, hotspot)]
