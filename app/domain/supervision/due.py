"""Due times (SPEC §5): when each unit cell's patrol requirement and each ledger source's
inspection next runs out, read from the maintained summaries (app/sql/due.sql), never from the
history. A cell falls due one patrol interval after its last counted patrol — the instant the
gap engine starts calling it `unpatrolled`; one never patrolled is overdue already.

Cells *at risk* are those not yet lapsed that will lapse within a few hours
(GRIDWATCH_AT_RISK_HOURS) unless someone goes: the /desk panel, the map layer and the
leaders' digest (`cells_at_risk_by_leader`, for the notifier) all read them from here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock, rules
from app.config import get_settings
from app.domain.errors import Unprocessable
from app.domain.supervision.gaps import Selection
from app.models import Cell
from app.sql import load

MAX_HOURS = 24 * 31
MAX_ITEMS = 5000


@dataclass(frozen=True)
class OnDuty:
    duty: str
    username: str
    name: str
    phone: str | None


@dataclass(frozen=True)
class DueItem:
    """A cell (ref = its code) or a ledger source (ref = its id) and when it falls due."""

    kind: str  # cell | source
    ref: str
    name: str
    type: str  # a cell's risk, a source's type
    interval_hours: int
    last_at: datetime | None  # last counted patrol (cell), last inspection (source)
    due_at: datetime | None  # None: never patrolled, due already
    cell_code: str
    cell_name: str
    lon: float
    lat: float
    district_code: str | None
    district_name: str | None
    on_duty: list[OnDuty] = field(default_factory=list)

    def overdue(self, now: datetime) -> bool:
        return self.due_at is None or self.due_at <= now

    def hours_left(self, now: datetime) -> float | None:
        """Hours until due (negative once overdue); None when never patrolled."""
        if self.due_at is None:
            return None
        return round((self.due_at - now).total_seconds() / 3600, 2)

    def leaders(self) -> list[OnDuty]:
        return [p for p in self.on_duty if p.duty in rules.LEADER_DUTIES]

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ref": self.ref,
            "name": self.name,
            "type": self.type,
            "cell_code": self.cell_code,
            "cell_name": self.cell_name,
            "district_code": self.district_code,
            "district_name": self.district_name,
            "interval_hours": self.interval_hours,
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "overdue": self.overdue(now),
            "hours_left": self.hours_left(now),
            "lat": self.lat,
            "lon": self.lon,
            "on_duty": [vars(p).copy() for p in self.on_duty],
        }


@dataclass(frozen=True)
class DueList:
    now: datetime
    until: datetime
    items: list[DueItem]
    truncated: bool  # more items were due than the limit let through

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.now.isoformat(),
            "until": self.until.isoformat(),
            "items": [i.as_dict(self.now) for i in self.items],
            "overdue": sum(1 for i in self.items if i.overdue(self.now)),
            "truncated": self.truncated,
        }


def check_hours(hours: float) -> None:
    if not 0 <= hours <= MAX_HOURS:
        raise Unprocessable(f"hours must be between 0 and {MAX_HOURS}")


def due_items(
    session: Session,
    selection: Selection,
    until: datetime,
    *,
    now: datetime | None = None,
    after: datetime | None = None,
    kinds: tuple[str, ...] = ("cell", "source"),
    limit: int = MAX_ITEMS,
) -> DueList:
    """Cells and sources of `selection` due at or before `until` (with `after`: only those
    falling due after it — not yet lapsed), soonest first, never patrolled at the top, each
    with who is on duty now."""
    now = now or clock.now()
    if not 1 <= limit <= MAX_ITEMS:
        raise Unprocessable(f"limit must be between 1 and {MAX_ITEMS}")
    params = selection.params() | {
        "t": now,
        "until": until,
        "after": after,
        "kinds": list(kinds),
        "limit": limit + 1,
    }
    items = [
        DueItem(
            kind=r.kind,
            ref=r.ref,
            name=r.name,
            type=r.type,
            interval_hours=r.interval_hours,
            last_at=r.last_at,
            due_at=r.due_at,
            cell_code=r.cell_code,
            cell_name=r.cell_name,
            lon=float(r.lon),
            lat=float(r.lat),
            district_code=r.district_code,
            district_name=r.district_name,
            on_duty=[OnDuty(**p) for p in r.on_duty],
        )
        for r in session.execute(load("due"), params)
    ]
    return DueList(now, until, items[:limit], len(items) > limit)


def due_within(
    session: Session, selection: Selection, hours: float, *, limit: int = 500
) -> DueList:
    """GET /api/v1/due: what runs out within `hours` from now, overdue first."""
    check_hours(hours)
    now = clock.now()
    return due_items(session, selection, now + timedelta(hours=hours), now=now, limit=limit)


def at_risk_hours(hours: float | None = None) -> float:
    value = get_settings().at_risk_hours if hours is None else hours
    check_hours(value)
    return value


def cells_at_risk(session: Session, selection: Selection, hours: float | None = None) -> DueList:
    """Unit cells not yet lapsed whose patrol requirement runs out within `hours` (default
    GRIDWATCH_AT_RISK_HOURS): someone must go before then."""
    now = clock.now()
    until = now + timedelta(hours=at_risk_hours(hours))
    return due_items(session, selection, until, now=now, after=now, kinds=("cell",))


@dataclass
class LeaderDigest:
    """One grid leader's cells at risk: what the notifier sends them in one message."""

    username: str
    name: str
    phone: str | None
    cells: list[DueItem] = field(default_factory=list)


def cells_at_risk_by_leader(
    session: Session, selection: Selection | None = None, hours: float | None = None
) -> list[LeaderDigest]:
    """The cells at risk grouped by each leader on duty on them (a cell with two leaders is
    in both digests; one with none is in no digest — it is `unstaffed` on the gaps), leaders
    by username, each one's cells soonest first. For the notifier's digest: one message per
    leader."""
    found = cells_at_risk(session, selection or Selection(None, None), hours)
    digests: dict[str, LeaderDigest] = {}
    for item in found.items:
        for leader in item.leaders():
            digest = digests.setdefault(
                leader.username, LeaderDigest(leader.username, leader.name, leader.phone)
            )
            digest.cells.append(item)
    return [digests[k] for k in sorted(digests)]


def at_risk_panel(
    session: Session, selection: Selection, hours: float | None = None
) -> dict[str, Any]:
    """The /desk panel: cells at risk by district, then by leader (a cell without a leader
    under none), soonest first."""
    found = cells_at_risk(session, selection, hours)
    districts: dict[str, dict[str, Any]] = {}
    for item in found.items:
        key = item.district_code or ""
        district = districts.setdefault(
            key, {"code": item.district_code, "name": item.district_name, "leaders": {}}
        )
        leaders: list[OnDuty | None] = [*item.leaders()] or [None]
        for leader in leaders:
            name = leader.username if leader else ""
            group = district["leaders"].setdefault(
                name,
                {
                    "username": leader.username if leader else None,
                    "name": leader.name if leader else None,
                    "phone": leader.phone if leader else None,
                    "cells": [],
                },
            )
            group["cells"].append(item.as_dict(found.now))
    return {
        "as_of": found.now.isoformat(),
        "hours": at_risk_hours(hours),
        "cells": len(found.items),
        "truncated": found.truncated,
        "districts": [
            d | {"leaders": [d["leaders"][k] for k in sorted(d["leaders"])]}
            for _, d in sorted(districts.items())
        ],
    }


def at_risk_geojson(
    session: Session, selection: Selection, hours: float | None = None
) -> dict[str, Any]:
    """The map layer: each cell at risk as a feature with its due time and leaders."""
    found = cells_at_risk(session, selection, hours)
    codes = [i.ref for i in found.items]
    shapes: dict[str, str] = {
        code: shape
        for code, shape in session.execute(
            select(Cell.code, func.ST_AsGeoJSON(Cell.geom, 6)).where(Cell.code.in_(codes))
        )
    }
    return {
        "type": "FeatureCollection",
        "as_of": found.now.isoformat(),
        "hours": at_risk_hours(hours),
        "truncated": found.truncated,
        "features": [
            {
                "type": "Feature",
                "id": item.ref,
                "geometry": json.loads(shapes[item.ref]),
                "properties": item.as_dict(found.now),
            }
            for item in found.items
            if item.ref in shapes
        ],
    }
