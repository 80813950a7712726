"""What Open311 GeoReport v2 shows of a complaint (SPEC §6), in one mapping that both
renderings use: JSON, and GeoReport's XML (`xml`: `<services><service>…`,
`<service_requests><request>…`, `<errors><error><code/><description/>…`).

A complaint's status read back follows the desk: `closed` once the case is finished
(销号 `closed` or 不予立案 `rejected`: lifecycle's FINISHED, the same rule as "open" everywhere),
`open` otherwise; `status_notes` says where the case stands in public words, and for a
finished case the note of the step that finished it (the answer to the complainant — working
notes stay inside); `updated_datetime` is the time of the case's last step."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.categories import CATEGORIES
from app.domain.hotspots import lifecycle
from app.models import Hotspot, HotspotEvent

AGENCY = "网格化监管"
CHANNEL_PREFIX = "open311:"
# Where an open case stands, as the complainant may read it.
STAGES = {
    "reported": "已受理，待核实立案",
    "accepted": "已立案，待派遣",
    "dispatched": "已派遣责任人，整改中",
    "rectifying": "整改中",
    "rectified": "已整改，待核查",
    "reopened": "回头看发现反弹，重新处理中",
}
FINISHED_WORDS = {"closed": "已办结", "rejected": "经核实不予立案"}


def public_status(status: str) -> str:
    return "open" if lifecycle.is_open(status) else "closed"


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


def find(
    session: Session,
    *,
    ids: list[uuid.UUID] | None = None,
    service_codes: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    statuses: set[str] | None = None,
    limit: int = 1000,
) -> list[Hotspot]:
    """Complaints that came in through Open311 (only those are visible through it), newest
    first. `statuses`: a subset of {"open", "closed"}."""
    query = select(Hotspot).where(Hotspot.channel.startswith(CHANNEL_PREFIX, autoescape=True))
    if ids is not None:
        query = query.where(Hotspot.id.in_(ids))
    if service_codes is not None:
        query = query.where(Hotspot.category.in_(service_codes))
    if start is not None:
        query = query.where(Hotspot.created_at >= start)
    if end is not None:
        query = query.where(Hotspot.created_at < end)
    if statuses == {"open"}:
        query = query.where(Hotspot.status.not_in(lifecycle.FINISHED))
    elif statuses == {"closed"}:
        query = query.where(Hotspot.status.in_(lifecycle.FINISHED))
    return list(session.scalars(query.order_by(Hotspot.created_at.desc()).limit(limit)))


def get(session: Session, request_id: uuid.UUID) -> Hotspot | None:
    hotspot = session.get(Hotspot, request_id)
    if hotspot is None or not (hotspot.channel or "").startswith(CHANNEL_PREFIX):
        return None
    return hotspot


def _last_steps(
    session: Session, ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[datetime, str | None]]:
    """Each case's last step: when, and its note."""
    if not ids:
        return {}
    last_ids = (
        select(func.max(HotspotEvent.id))
        .where(HotspotEvent.hotspot_id.in_(ids))
        .group_by(HotspotEvent.hotspot_id)
    )
    rows = session.execute(
        select(HotspotEvent.hotspot_id, HotspotEvent.at, HotspotEvent.note).where(
            HotspotEvent.id.in_(last_ids)
        )
    )
    return {hotspot_id: (at, note) for hotspot_id, at, note in rows}


def requests(session: Session, hotspots: list[Hotspot]) -> list[dict[str, Any]]:
    """Each complaint as GeoReport v2's `request`."""
    last = _last_steps(session, [h.id for h in hotspots])
    return [_request(h, *last.get(h.id, (h.updated_at, None))) for h in hotspots]


def error(code: int, description: str) -> dict[str, Any]:
    return {"code": code, "description": description}


def _request(h: Hotspot, updated_at: datetime, last_note: str | None) -> dict[str, Any]:
    # The last step of a finished case is the one that finished it (nothing follows closed or
    # rejected but a reopening, which makes the case open again).
    if lifecycle.is_open(h.status):
        notes = STAGES.get(h.status, "处理中")
    else:
        notes = (last_note or "").strip() or FINISHED_WORDS.get(h.status, "已办结")
    return {
        "service_request_id": str(h.id),
        "status": public_status(h.status),
        "status_notes": notes,
        "service_name": CATEGORIES.get(h.category, h.category),
        "service_code": h.category,
        "description": h.description,
        "agency_responsible": AGENCY,
        "service_notice": None,
        "requested_datetime": h.created_at.isoformat(),
        "updated_datetime": updated_at.isoformat(),
        "expected_datetime": h.deadline.isoformat() if h.deadline else None,
        "address": None,
        "lat": h.lat,
        "long": h.lon,
        "media_url": None,
    }


# Characters XML 1.0 cannot carry (a complaint's text may hold them); dropped from XML only.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml(root: str, item: str, rows: list[dict[str, Any]]) -> bytes:
    """GeoReport's XML of rows of the JSON mapping: one `<item>` per row, one element per
    field in the JSON's order; null is an empty element, booleans are true/false."""
    top = ET.Element(root)
    for row in rows:
        element = ET.SubElement(top, item)
        for key, value in row.items():
            ET.SubElement(element, key).text = _xml_text(value)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def _xml_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))
