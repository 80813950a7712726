"""The monthly bulletin (月度通报): one page ready to send — headline numbers, the ten worst
units, the cases overdue in the month and the cases missed by the grid. Its numbers come from
the ranking (ranking.py, the indicators' rules), the overdue rule of the lapse engine
(`overdue_spells`) and the missed-by-the-grid flag kept at intake; nothing is re-derived.
Written as XLSX (bulletin_xlsx.py) or PDF (bulletin_html.py through app/domain/pdf.py)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from app import clock, rules
from app.domain.supervision.gaps import Selection
from app.domain.supervision.indicators import Tally
from app.domain.supervision.intervals import clip
from app.domain.supervision.lapses import cells_in_window, overdue_spells
from app.domain.timeparse import local_zone

from .ranking import Ranking, ranking

WORST = 10
LISTED = 50  # overdue and missed cases listed in full; the headline counts them all

_HOTSPOTS = text("""
    SELECT h.id, h.cell_id, c.code AS cell_code, c.name AS cell_name, h.category,
           h.description, h.source, h.found_at, h.status, h.deadline, h.missed_by_grid,
           p.name AS assignee_name, p.username AS assignee
      FROM hotspots h
      JOIN cells c ON c.id = h.cell_id
      LEFT JOIN persons p ON p.id = h.assignee_id
     WHERE h.cell_id = ANY (CAST(:ids AS bigint[])) AND h.found_at < :end
       AND NOT (h.status = ANY (CAST(:finished_statuses AS text[])) AND h.updated_at < :start)
     ORDER BY h.found_at, h.id
""")
_EVENTS = text("""
    SELECT hotspot_id, at, to_status, deadline, action, assignee_id, actor_id, actor_label
    FROM hotspot_events
     WHERE hotspot_id = ANY (CAST(:hids AS uuid[])) AND at < :end
     ORDER BY at, id
""")


@dataclass
class Bulletin:
    start: datetime
    end: datetime
    scope: str
    author: str
    generated_at: datetime
    zone: ZoneInfo
    unit_cells: int
    overall: dict[str, float | None]
    previous_overall: dict[str, float | None]
    counts: dict[str, int]
    worst: Ranking
    overdue: list[dict[str, Any]] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def month(self) -> str:
        return f"{self.start.astimezone(self.zone):%Y-%m}"

    def as_json(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "scope": self.scope,
            "generated_by": self.author,
            "generated_at": self.generated_at.isoformat(),
            "headline": {
                "unit_cells": self.unit_cells,
                **self.counts,
                **self.overall,
                "previous": self.previous_overall,
            },
            "worst": {"by": self.worst.by, "rows": self.worst.rows},
            "overdue": [_jsonable(h) for h in self.overdue],
            "missed": [_jsonable(h) for h in self.missed],
        }


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v
        for k, v in row.items()
    }


def _overall(result: Ranking, previous: bool = False) -> dict[str, float | None]:
    """The whole scope's rates: the units' counts added up, divided by the indicators' rule."""
    tally = Tally()
    for r in result.rows:
        tally.add(**(r["previous_counts"] if previous else r["counts"]))
    return tally.rates()


def bulletin(
    session: Session,
    selection: Selection,
    start: datetime,
    end: datetime,
    *,
    scope: str,
    author: str,
) -> Bulletin:
    units = ranking(session, selection, start, end, "community", compare=True, keep_counts=True)
    if not units.rows:  # a grid without communities: rank its streets
        units = ranking(session, selection, start, end, "street", compare=True, keep_counts=True)
    worst = [r for r in reversed(units.rows) if r["patrol_met_rate"] is not None][:WORST]
    worst_ranking = Ranking(
        units.start, units.end, units.previous_start, units.previous_end, units.by, worst
    )
    cells = {c.id: c for c in cells_in_window(session, selection, start, end)}
    overdue, missed, found, closed = _cases(session, list(cells), start, end)
    counts = {
        "hotspots_found": found,
        "hotspots_closed": closed,
        "overdue_hotspots": len(overdue),
        "missed_hotspots": len(missed),
    }
    return Bulletin(
        start=start,
        end=end,
        scope=scope,
        author=author,
        generated_at=clock.now(),
        zone=local_zone(),
        unit_cells=len(cells),
        overall=_overall(units),
        previous_overall=_overall(units, previous=True),
        counts=counts,
        worst=worst_ranking,
        overdue=overdue,
        missed=missed,
    )


def _cases(
    session: Session, cell_ids: list[int], start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, int]:
    """(cases overdue at some time in the month, most overdue first; cases missed by the grid
    found in the month; cases found in the month; closings in the month)."""
    if not cell_ids:
        return [], [], 0, 0
    params = {"ids": cell_ids, "start": start, "end": end} | rules.params()
    hotspots = session.execute(_HOTSPOTS, params).all()
    events: dict[uuid.UUID, list[Any]] = defaultdict(list)
    if hotspots:
        for e in session.execute(_EVENTS, {"hids": [h.id for h in hotspots], "end": end}):
            events[e.hotspot_id].append(e)
    overdue, missed = [], []
    found = closed = 0
    for h in hotspots:
        row = {
            "id": h.id,
            "cell_code": h.cell_code,
            "cell_name": h.cell_name,
            "category": h.category,
            "description": h.description,
            "source": h.source,
            "found_at": h.found_at,
            "status": h.status,
            "deadline": h.deadline,
            "assignee": h.assignee,
            "assignee_name": h.assignee_name,
        }
        if h.found_at >= start:
            found += 1
            if h.missed_by_grid and h.status not in rules.UNFOUNDED:
                missed.append(row)
        closed += sum(
            1
            for e in events[h.id]
            if e.action == "transition" and e.to_status == "closed" and e.at >= start
        )
        spells = overdue_spells(h.id, events[h.id])
        spans = [s for o in spells if (s := clip((o.start, o.end), start, end))]
        if spans:
            hours = sum((b - a).total_seconds() for a, b in spans) / 3600
            row["overdue_hours"] = round(hours, 1)
            row["overdue_at_end"] = spans[-1][1] >= end
            overdue.append(row)
    overdue.sort(key=lambda r: (-r["overdue_hours"], r["found_at"]))
    return overdue, missed, found, closed
