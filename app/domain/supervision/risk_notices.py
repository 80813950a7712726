"""The notifier's digest of cells at risk (issue 21): each grid leader is told, in one
message, which of their cells fall due within GRIDWATCH_AT_RISK_HOURS unless someone goes.

One digest per leader per window: the day is cut into windows of that many hours (from
local midnight), and the dedupe key `cells_at_risk:<leader>:<window start>` names one digest —
a re-scan in the same window repeats nothing, the next window tells again what is still at
risk then. Cells at risk are due.cells_at_risk's (summaries only, no history scan)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.domain.notify.events import KINDS, Message, raise_event, raised
from app.domain.supervision.due import LeaderDigest, cells_at_risk_by_leader

KIND = "cells_at_risk"
KINDS.setdefault(KIND, "网格即将超期未巡")
LISTED = 20  # cells named in one message; the rest are counted


def window_start(now: datetime, hours: float) -> datetime:
    """The start of the window holding `now`: windows are cut from local midnight, so with 6 h
    the digests come at 00:00, 06:00, 12:00 and 18:00 local time at the earliest."""
    zone = ZoneInfo(get_settings().timezone)
    local = now.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    width = timedelta(hours=hours)
    return (midnight + ((local - midnight) // width) * width).astimezone(UTC)


def digest_message(digest: LeaderDigest, now: datetime) -> Message:
    tz = ZoneInfo(get_settings().timezone)
    lines: list[tuple[str, str]] = [
        (
            "网格长",
            f"{digest.name}（{digest.username}）" + (f" {digest.phone}" if digest.phone else ""),
        ),
        (
            "网格数",
            f"{len(digest.cells)} 个网格将在 {get_settings().at_risk_hours:g} 小时内超期未巡",
        ),
    ]
    for item in digest.cells[:LISTED]:
        if item.due_at is None:
            when = "从未巡查"
        else:
            left = (item.due_at - now).total_seconds() / 3600
            when = f"{item.due_at.astimezone(tz):%m-%d %H:%M} 到期（还剩 {max(left, 0):.1f} 小时）"
        lines.append((f"{item.cell_name}（{item.cell_code}）", when))
    if len(digest.cells) > LISTED:
        lines.append(("其余", f"另有 {len(digest.cells) - LISTED} 个网格"))
    return Message(
        title=f"{KINDS[KIND]}：{digest.name} · {len(digest.cells)} 个网格",
        lines=lines,
        link="/desk",
        data={
            "leader": digest.username,
            "leader_name": digest.name,
            "leader_phone": digest.phone,
            "mention_mobiles": [digest.phone] if digest.phone else [],
            "cells": [
                {
                    "code": item.cell_code,
                    "name": item.cell_name,
                    "due_at": item.due_at.isoformat() if item.due_at else None,
                }
                for item in digest.cells
            ],
        },
    )


def scan(session: Session) -> int:
    """Raise this window's digest for every leader with cells at risk and none yet. How many
    were raised."""
    settings = get_settings()
    if not settings.notify_webhooks:
        return 0
    now = clock.now()
    start = window_start(now, settings.at_risk_hours).isoformat()
    digests = {f"{KIND}:{d.username}:{start}": d for d in cells_at_risk_by_leader(session)}
    told = raised(session, list(digests))
    count = 0
    for key, digest in digests.items():
        if key not in told and raise_event(
            session, kind=KIND, dedupe_key=key, message=digest_message(digest, now)
        ):
            count += 1
    return count
