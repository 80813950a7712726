"""Pieces of a dossier beyond the API's own views: the assignees of its cases (with when they
held them), the names behind usernames, the summaries its PDF opens with, the patrol tracks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.accountability.dossierpdf import STATUS_LABEL, local
from app.domain.accountability.exports import SOURCE_LABEL
from app.domain.categories import CATEGORIES
from app.models import Cell, Hotspot, HotspotEvent, Patrol, Person

RISK_LABEL = {"high": "高", "medium": "中", "low": "低"}


def assignees(session: Session, hotspot_ids: list[uuid.UUID], until: datetime) -> list[Any]:
    """Everyone a case was dispatched to, from that step until the next dispatch (or
    `until`): duty `assignee`, as responsible.json lists people on duty."""
    if not hotspot_ids:
        return []
    rows = session.execute(
        select(HotspotEvent.hotspot_id, HotspotEvent.at, Person.username, Person.name, Person.phone)
        .join(Person, Person.id == HotspotEvent.assignee_id)
        .where(HotspotEvent.hotspot_id.in_(hotspot_ids))
        .order_by(HotspotEvent.hotspot_id, HotspotEvent.at, HotspotEvent.id)
    ).all()
    out: list[dict[str, Any]] = []
    for i, r in enumerate(rows):
        following = rows[i + 1] if i + 1 < len(rows) else None
        end = following.at if following and following.hotspot_id == r.hotspot_id else until
        if out and out[-1]["hotspot_id"] == str(r.hotspot_id) and out[-1]["username"] == r.username:
            out[-1]["end"] = end  # the same assignee again (an extension with its assignee)
            continue
        out.append(
            {
                "duty": "assignee",
                "username": r.username,
                "name": r.name,
                "phone": r.phone,
                "start": r.at,
                "end": max(end, r.at),
                "hotspot_id": str(r.hotspot_id),
            }
        )
    return out


def names(
    session: Session, detail: dict[str, Any], reports: list[dict[str, Any]], people: list[Any]
) -> dict[str, str]:
    """username → name of everyone the dossier mentions (one query)."""
    usernames = {e["actor"] for e in detail.get("history", [])}
    usernames |= {e["assignee"] for e in detail.get("history", []) if e.get("assignee")}
    usernames |= {r["reporter"] for r in reports} | {p["username"] for p in people}
    usernames.discard(None)
    if not usernames:
        return {}
    rows = session.execute(
        select(Person.username, Person.name).where(Person.username.in_(sorted(usernames)))
    )
    return {u: n for u, n in rows}


def hotspot_summary(detail: dict[str, Any], people: list[Any]) -> list[tuple[str, str]]:
    cell = detail.get("cell") or {}
    assigned = [p for p in people if p["duty"] == "assignee"]
    assignee = "；".join(f"{p['name']} {p.get('phone') or ''} ({p['username']})" for p in assigned)
    counts = (
        f"延期 extensions {detail['extensions']} · 返工 reworks {detail['reworks']} · "
        f"回头看 reopens {detail['reopens']}"
    )
    return [
        ("问题编号 Case id", detail["id"]),
        ("网格 Cell", f"{cell.get('name', '')} {cell.get('code', '')}".strip()),
        ("区县 街道 District, street", f"{cell.get('district', '')} {cell.get('street', '')}"),
        ("发现渠道 Found by", SOURCE_LABEL.get(detail["source"], detail["source"])),
        (
            "类别 Category",
            f"{CATEGORIES.get(detail['category'], detail['category'])} {detail['category']}",
        ),
        ("问题描述 Description", detail["description"]),
        ("发现时间 Found at", local(detail["found_at"], seconds=True)),
        ("当前状态 Status", STATUS_LABEL.get(detail["status"], detail["status"])),
        ("整改期限 Deadline", local(detail["deadline"]) or "—"),
        ("承办人 Assignee", assignee or "—"),
        ("是否逾期 Overdue", "是 yes" if detail["overdue"] else "否 no"),
        ("漏报 Missed by the grid", "是 yes" if detail["missed_by_grid"] else "否 no"),
        ("次数 Counts", counts),
        ("位置 Position (WGS-84)", f"{detail['lat']:.6f}, {detail['lon']:.6f}"),
        ("结案时间 Closed at", local(detail["closed_at"]) or "—"),
    ]


def cell_summary(cell: dict[str, Any], hotspots: Sequence[Hotspot]) -> list[tuple[str, str]]:
    cases = "；".join(
        f"{h.id} {STATUS_LABEL.get(h.status, h.status)} {CATEGORIES.get(h.category, h.category)}"
        for h in hotspots
    )
    return [
        ("网格 Cell", f"{cell['name']} {cell['code']}"),
        ("区县 街道 District, street", f"{cell['district']} {cell['street']}"),
        ("风险 Risk", f"{RISK_LABEL.get(cell['risk'], cell['risk'])} {cell['risk']}"),
        ("巡查间隔 Patrol interval", f"{cell['patrol_interval_hours']} 小时 h"),
        ("期间 Period", f"{local(cell['from'])} – {local(cell['to'])}"),
        ("问题 Hotspots", cases or "无 none"),
    ]


def patrols(session: Session, cell: Cell, start: datetime, end: datetime) -> list[Any]:
    """The GPS tracks that crossed the cell in [start, end)."""
    tracks = session.execute(
        select(Patrol, func.ST_AsGeoJSON(Patrol.track, 6))
        .join(Cell, Cell.id == cell.id)
        .where(
            func.ST_Intersects(Patrol.track, Cell.geom),
            Patrol.started_at < end,
            Patrol.ended_at >= start,
        )
        .order_by(Patrol.started_at)
    ).all()
    return [
        {
            "id": p.id,
            "reporter_id": p.reporter_id,
            "started_at": p.started_at,
            "ended_at": p.ended_at,
            "counted": p.counted,
            "flags": p.flags,
            "track": json.loads(shape),
        }
        for p, shape in tracks
    ]
