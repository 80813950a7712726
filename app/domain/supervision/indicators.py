"""Indicators (SPEC §5) per person, cell, district, street, community or grid leader over
[from, to), with a ranking (通报).

Groupings: `district` is the level below the top of what is asked about (the districts of a
city); `street` and `community` are the ancestors at levels 3 and 4 of the grid tree; `leader`
answers for the cells each grid leader led, while they led them (a roster rotation splits a
cell's month between the two leaders); `person` is every person with a patrol duty.

- patrol_met_rate   巡查达标率  share of on-duty cell-hours not in an unpatrolled lapse
- rectified_on_time_rate 按期处置率  hotspots due in the period rectified by their deadline / due
- closed_rate, closed_on_time_rate 结案率, 按期结案率  closed (by the deadline) / due
- rework_rate       返工率  reworks / due
- extension_rate    延期率  due hotspots whose deadline was extended / due
- missed_rate       漏报率  missed-by-the-grid hotspots found in the period / hotspots accepted
- relapse_rate      反弹率  reopenings / closings in the period
- valid_report_rate 有效上报率  counted reports / reports filed (observed in the period)
A hotspot is *due* in the period when its deadline falls in it. Rates with nothing to divide
by are null. Lapses come from the lapse engine (lapses.py), never re-derived here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app import rules
from app.domain.errors import DomainError
from app.domain.supervision.gaps import Selection
from app.domain.supervision.intervals import overlap
from app.domain.supervision.lapses import (
    CellWindow,
    cells_in_window,
    db_now,
    duties_in_window,
    find_lapses,
)

GROUPINGS = ("person", "cell", "district", "street", "community", "leader")
LEVELS = {"street": 3, "community": 4}  # grid-tree levels (SPEC §2: city 1 … unit cell 5)

_REPORTS = text("""
    SELECT r.cell_id, p.username AS person,
           count(*) AS filed, count(*) FILTER (WHERE r.counted) AS counted
      FROM reports r
      JOIN persons p ON p.id = r.reporter_id
     WHERE r.cell_id = ANY (CAST(:ids AS bigint[]))
       AND r.observed_at >= :start AND r.observed_at < :end
     GROUP BY r.cell_id, p.username
""")
_OUTSIDE = text("""
    SELECT p.username AS person, count(*) AS filed
      FROM reports r
      JOIN persons p ON p.id = r.reporter_id
     WHERE r.cell_id IS NULL AND p.username = ANY (CAST(:usernames AS text[]))
       AND r.observed_at >= :start AND r.observed_at < :end
     GROUP BY p.username
""")
_DUE = text("""
    SELECT h.cell_id, p.username AS person,
           count(*) AS due,
           count(*) FILTER (WHERE h.rectified_at IS NOT NULL AND h.rectified_at <= h.deadline)
               AS rectified_on_time,
           count(*) FILTER (WHERE h.status = 'closed') AS closed,
           count(*) FILTER (WHERE h.status = 'closed' AND h.closed_at <= h.deadline)
               AS closed_on_time,
           coalesce(sum(h.reworks), 0) AS reworks,
           count(*) FILTER (WHERE h.extensions > 0) AS extended
      FROM hotspots h
      LEFT JOIN persons p ON p.id = h.assignee_id
     WHERE h.cell_id = ANY (CAST(:ids AS bigint[]))
       AND h.deadline >= :start AND h.deadline < :end
     GROUP BY h.cell_id, p.username
""")
_STEPS = text("""
    SELECT h.cell_id, p.username AS person,
           count(*) FILTER (WHERE e.to_status = 'accepted') AS accepted,
           count(*) FILTER (WHERE e.to_status = 'closed') AS closings,
           count(*) FILTER (WHERE e.to_status = 'reopened') AS reopenings
      FROM hotspot_events e
      JOIN hotspots h ON h.id = e.hotspot_id
      LEFT JOIN persons p ON p.id = h.assignee_id
     WHERE h.cell_id = ANY (CAST(:ids AS bigint[]))
       AND e.at >= :start AND e.at < :end AND e.action = 'transition'
     GROUP BY h.cell_id, p.username
""")
_MISSED = text("""
    SELECT h.cell_id, count(*) AS missed
      FROM hotspots h
     WHERE h.cell_id = ANY (CAST(:ids AS bigint[])) AND h.missed_by_grid
       AND h.status <> ALL (CAST(:unfounded_statuses AS text[]))
       AND h.found_at >= :start AND h.found_at < :end
     GROUP BY h.cell_id
""")
# Grouped by grid leader: each event goes to the leader on duty in its cell at its instant.
_LEADER_REPORTS = text("""
    SELECT p.username AS person, count(*) AS filed, count(*) FILTER (WHERE r.counted) AS counted
      FROM reports r
      JOIN duties d ON d.cell_id = r.cell_id AND d.duty = 'leader'
       AND (d.valid_from IS NULL OR d.valid_from <= r.observed_at)
       AND (d.valid_to IS NULL OR d.valid_to > r.observed_at)
      JOIN persons p ON p.id = d.person_id
     WHERE r.cell_id = ANY (CAST(:ids AS bigint[]))
       AND r.observed_at >= :start AND r.observed_at < :end
     GROUP BY p.username
""")
_LEADER_DUE = text("""
    SELECT p.username AS person, count(*) AS due,
           count(*) FILTER (WHERE h.rectified_at IS NOT NULL AND h.rectified_at <= h.deadline)
               AS rectified_on_time,
           count(*) FILTER (WHERE h.status = 'closed') AS closed,
           count(*) FILTER (WHERE h.status = 'closed' AND h.closed_at <= h.deadline)
               AS closed_on_time,
           coalesce(sum(h.reworks), 0) AS reworks,
           count(*) FILTER (WHERE h.extensions > 0) AS extended
      FROM hotspots h
      JOIN duties d ON d.cell_id = h.cell_id AND d.duty = 'leader'
       AND (d.valid_from IS NULL OR d.valid_from <= h.deadline)
       AND (d.valid_to IS NULL OR d.valid_to > h.deadline)
      JOIN persons p ON p.id = d.person_id
     WHERE h.cell_id = ANY (CAST(:ids AS bigint[]))
       AND h.deadline >= :start AND h.deadline < :end
     GROUP BY p.username
""")
_LEADER_STEPS = text("""
    SELECT p.username AS person,
           count(*) FILTER (WHERE e.to_status = 'accepted') AS accepted,
           count(*) FILTER (WHERE e.to_status = 'closed') AS closings,
           count(*) FILTER (WHERE e.to_status = 'reopened') AS reopenings
      FROM hotspot_events e
      JOIN hotspots h ON h.id = e.hotspot_id
      JOIN duties d ON d.cell_id = h.cell_id AND d.duty = 'leader'
       AND (d.valid_from IS NULL OR d.valid_from <= e.at)
       AND (d.valid_to IS NULL OR d.valid_to > e.at)
      JOIN persons p ON p.id = d.person_id
     WHERE h.cell_id = ANY (CAST(:ids AS bigint[]))
       AND e.at >= :start AND e.at < :end AND e.action = 'transition'
     GROUP BY p.username
""")
_LEADER_MISSED = text("""
    SELECT p.username AS person, count(*) AS missed
      FROM hotspots h
      JOIN duties d ON d.cell_id = h.cell_id AND d.duty = 'leader'
       AND (d.valid_from IS NULL OR d.valid_from <= h.found_at)
       AND (d.valid_to IS NULL OR d.valid_to > h.found_at)
      JOIN persons p ON p.id = d.person_id
     WHERE h.cell_id = ANY (CAST(:ids AS bigint[])) AND h.missed_by_grid
       AND h.status <> ALL (CAST(:unfounded_statuses AS text[]))
       AND h.found_at >= :start AND h.found_at < :end
     GROUP BY p.username
""")
_CELL_NAMES = text("SELECT id, code, name FROM cells WHERE id = ANY (CAST(:ids AS bigint[]))")
COUNTS = (
    "duty_hours",
    "met_hours",
    "filed",
    "counted",
    "due",
    "rectified_on_time",
    "closed",
    "closed_on_time",
    "reworks",
    "extended",
    "accepted",
    "closings",
    "reopenings",
    "missed",
)


@dataclass
class Tally:
    counts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0.0))

    def add(self, **values: float) -> None:
        for k, v in values.items():
            self.counts[k] += float(v or 0)

    def rates(self) -> dict[str, float | None]:
        c = self.counts

        def ratio(a: str, b: str) -> float | None:
            return round(c[a] / c[b], 4) if c[b] else None

        return {
            "patrol_met_rate": ratio("met_hours", "duty_hours"),
            "rectified_on_time_rate": ratio("rectified_on_time", "due"),
            "closed_rate": ratio("closed", "due"),
            "closed_on_time_rate": ratio("closed_on_time", "due"),
            "rework_rate": ratio("reworks", "due"),
            "extension_rate": ratio("extended", "due"),
            "missed_rate": ratio("missed", "accepted"),
            "relapse_rate": ratio("reopenings", "closings"),
            "valid_report_rate": ratio("counted", "filed"),
        }


def indicators(
    session: Session, selection: Selection, start: datetime, end: datetime, by: str
) -> list[dict[str, Any]]:
    if by not in GROUPINGS:
        raise DomainError(f"by must be one of {', '.join(GROUPINGS)}")
    lapses = find_lapses(session, selection, start, end)  # validates the window
    end = min(end, db_now(session))  # duty hours, like lapses, stop at the present
    cells = {c.id: c for c in cells_in_window(session, selection, start, end)}
    if not cells:
        return []
    ids = list(cells)
    params = {"ids": ids, "start": start, "end": end}
    lapsed: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for x in lapses:
        if x.lapse == "unpatrolled":
            lapsed[x.cell_id].append((x.start, x.end))
    group = _grouper(session, selection, cells, by)
    tallies: dict[str, Tally] = defaultdict(Tally)

    if by in ("person", "leader"):
        for cell_id, duties in duties_in_window(session, ids, start, end).items():
            c = cells[cell_id]
            for d in duties:
                if d.duty not in rules.PATROL_DUTIES:
                    continue  # 监督员 oversee; the patrol requirement is on those who patrol
                if by == "leader" and d.duty != "leader":
                    continue
                window = overlap(d.valid_from, d.valid_to, (c.lo, c.hi))
                if window:
                    hours = _hours(window)
                    missed = sum(
                        _hours(o)
                        for lap in lapsed[cell_id]
                        if (o := overlap(lap[0], lap[1], window))
                    )
                    tallies[f"u:{d.username}"].add(duty_hours=hours, met_hours=hours - missed)
    else:
        for cell_id, c in cells.items():
            hours = _hours((c.lo, c.hi))
            missed = sum(_hours(lap) for lap in lapsed[cell_id])
            tallies[group(cell_id, None)].add(duty_hours=hours, met_hours=hours - missed)

    if by == "leader":
        _leader_events(session, params, tallies)
        return _ranked(session, tallies)
    for r in session.execute(_REPORTS, params):
        tallies[group(r.cell_id, r.person)].add(filed=r.filed, counted=r.counted)
    for r in session.execute(_DUE, params):
        tallies[group(r.cell_id, r.person)].add(
            due=r.due,
            rectified_on_time=r.rectified_on_time,
            closed=r.closed,
            closed_on_time=r.closed_on_time,
            reworks=r.reworks,
            extended=r.extended,
        )
    for r in session.execute(_STEPS, params):
        tallies[group(r.cell_id, r.person)].add(
            accepted=r.accepted, closings=r.closings, reopenings=r.reopenings
        )
    if by == "person":  # reports outside every cell are filed, never counted
        usernames = [k[2:] for k in tallies if k.startswith("u:")]
        for r in session.execute(_OUTSIDE, {**params, "usernames": usernames}):
            tallies[f"u:{r.person}"].add(filed=r.filed)
    else:
        for r in session.execute(_MISSED, params | rules.params()):
            tallies[group(r.cell_id, None)].add(missed=r.missed)
    tallies.pop("", None)
    return _ranked(session, tallies)


def _leader_events(session: Session, params: dict[str, Any], tallies: dict[str, Tally]) -> None:
    """Reports, due hotspots, case steps and missed problems, each to the grid leader on duty
    in its cell at its instant (a cell without a leader then answers to nobody)."""
    for r in session.execute(_LEADER_REPORTS, params):
        tallies[f"u:{r.person}"].add(filed=r.filed, counted=r.counted)
    for r in session.execute(_LEADER_DUE, params):
        tallies[f"u:{r.person}"].add(
            due=r.due,
            rectified_on_time=r.rectified_on_time,
            closed=r.closed,
            closed_on_time=r.closed_on_time,
            reworks=r.reworks,
            extended=r.extended,
        )
    for r in session.execute(_LEADER_STEPS, params):
        tallies[f"u:{r.person}"].add(
            accepted=r.accepted, closings=r.closings, reopenings=r.reopenings
        )
    for r in session.execute(_LEADER_MISSED, params | rules.params()):
        tallies[f"u:{r.person}"].add(missed=r.missed)


def _hours(interval: tuple[datetime, datetime]) -> float:
    return (interval[1] - interval[0]).total_seconds() / 3600


Grouper = Callable[[int, str | None], str]


def _grouper(
    session: Session, selection: Selection, cells: dict[int, CellWindow], by: str
) -> Grouper:
    """The tally key of a (cell, person) pair; "" drops it (e.g. a hotspot nobody holds)."""
    if by == "cell":
        return lambda cell_id, _person: f"c:{cell_id}"
    if by == "person":
        return lambda _cell, person: f"u:{person}" if person else ""
    if by in LEVELS:
        rows = session.execute(
            text(
                "SELECT leaf.id, anc.id AS anc FROM cells leaf JOIN cells anc"
                " ON anc.path @> leaf.path AND anc.id <> leaf.id AND anc.level = :level"
                " WHERE leaf.id = ANY (CAST(:ids AS bigint[]))"
            ),
            {"level": LEVELS[by], "ids": list(cells)},
        )
    else:
        depth = len(selection.root_path.split(".")) if selection.root_path else 1
        rows = session.execute(
            text(
                "SELECT id, ltree2text(subpath(path, :idx, 1)) AS anc FROM cells "
                "WHERE id = ANY (CAST(:ids AS bigint[])) AND nlevel(path) > :idx"
            ),
            {"idx": depth, "ids": list(cells)},
        )
    ancestor = {r.id: r.anc for r in rows}
    return lambda cell_id, _person: f"c:{ancestor[cell_id]}" if cell_id in ancestor else ""


def _ranked(session: Session, tallies: dict[str, Tally]) -> list[dict[str, Any]]:
    cell_ids = [int(k[2:]) for k in tallies if k.startswith("c:")]
    names = {str(r.id): (r.code, r.name) for r in session.execute(_CELL_NAMES, {"ids": cell_ids})}
    people = {
        r.username: r.name
        for r in session.execute(
            text("SELECT username, name FROM persons WHERE username = ANY (CAST(:u AS text[]))"),
            {"u": [k[2:] for k in tallies if k.startswith("u:")]},
        )
    }
    rows = []
    for key, tally in tallies.items():
        if key.startswith("u:"):
            ident = {"username": key[2:], "name": people.get(key[2:], key[2:])}
        else:
            code, name = names[key[2:]]
            ident = {"code": code, "name": name}
        rows.append(
            {**ident, **tally.rates(), "counts": {k: round(v, 2) for k, v in tally.counts.items()}}
        )
    rows.sort(
        key=lambda r: (
            -(r["patrol_met_rate"] if r["patrol_met_rate"] is not None else -1),
            -(r["valid_report_rate"] or 0),
            r.get("code") or r.get("username"),
        )
    )
    for i, r in enumerate(rows, start=1):
        r["rank"] = i
    return rows
