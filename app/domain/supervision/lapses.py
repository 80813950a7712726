"""Lapse periods (SPEC §5) for accountability: over [start, end), every maximal unpatrolled,
overdue and unstaffed interval of each leaf cell, with every person whose duty on that cell
overlapped it — the roster of the time, not today's. Exports reuse this; never re-derive it.

The unpatrolled and unstaffed lapses and everyone's share of them are computed in SQL
(app/sql/lapses.sql, the rule values bound from app/rules.py), the people as the JSON the
lapse API writes; the overdue ones, from each hotspot's event log, here."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import BigInteger, Uuid, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from app import clock, rules
from app.config import get_settings
from app.domain.errors import DomainError
from app.domain.hotspots import lifecycle
from app.domain.supervision.gaps import Selection
from app.domain.supervision.intervals import Interval, clip, merge, overlap
from app.models import Cell, Duty, Hotspot, HotspotEvent, Person
from app.models.base import LTree
from app.sql import load

KINDS = ("unpatrolled", "overdue_hotspot", "unstaffed")
_KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}
MAX_SPAN = timedelta(days=400)
OPEN_END = datetime.max.replace(tzinfo=UTC)  # "until now and beyond"; clipped by callers


@dataclass
class Responsible:
    duty: str
    username: str
    name: str
    phone: str | None
    start: datetime
    end: datetime


@dataclass
class OverdueCase:
    """One hotspot's overdue spell within an overdue lapse: the deadline it missed, the
    person it was dispatched to and who dispatched it (person ids, as the events hold them)."""

    hotspot_id: uuid.UUID
    start: datetime
    end: datetime
    deadline: datetime
    assignee_id: int | None
    dispatcher_id: int | None
    dispatcher_label: str | None


@dataclass
class Lapse:
    cell_id: int
    cell_code: str
    cell_name: str
    lapse: str
    start: datetime
    end: datetime
    responsible: list[Responsible] = field(default_factory=list)
    last_patrol_at: datetime | None = None
    hotspots: list[uuid.UUID] = field(default_factory=list)
    patrol_interval_hours: int | None = None
    cell_path: str = ""
    # overdue_hotspot: each hotspot's overdue spells inside the lapse
    cases: list[OverdueCase] = field(default_factory=list)
    # unstaffed: the duties (rules.DUTIES, 一长三员) nobody held at some time in the lapse
    vacant: list[str] = field(default_factory=list)
    # `responsible` as the lapse API writes it (compact JSON, from the engine)
    responsible_json: bytes | None = None

    @property
    def hours(self) -> float:
        return round((self.end - self.start).total_seconds() / 3600, 2)


@dataclass
class CellWindow:
    id: int
    code: str
    name: str
    lo: datetime
    hi: datetime
    path: str = ""
    patrol_interval_hours: int | None = None


def cells_in_window(
    session: Session, selection: Selection, start: datetime, end: datetime
) -> list[CellWindow]:
    conditions = [
        Cell.is_leaf,
        (Cell.valid_from.is_(None)) | (Cell.valid_from < end),
        (Cell.valid_to.is_(None)) | (Cell.valid_to > start),
    ]
    if selection.root_path is not None:
        conditions.append(Cell.path.op("<@")(literal(selection.root_path, LTree)))
    if selection.cell_ids is not None:
        conditions.append(Cell.id.in_(selection.cell_ids))
    rows = session.execute(
        select(
            Cell.id,
            Cell.code,
            Cell.name,
            Cell.valid_from,
            Cell.valid_to,
            Cell.path,
            Cell.patrol_interval_hours,
        )
        .where(*conditions)
        .order_by(Cell.code)
    ).all()
    return [
        CellWindow(
            r.id,
            r.code,
            r.name,
            max(start, r.valid_from or start),
            min(end, r.valid_to or end),
            r.path,
            r.patrol_interval_hours,
        )
        for r in rows
    ]


def find_lapses(
    session: Session, selection: Selection, start: datetime, end: datetime
) -> list[Lapse]:
    return list(iter_lapses(session, selection, start, end))


def iter_lapses(
    session: Session,
    selection: Selection,
    start: datetime,
    end: datetime,
    chunk_cells: int = 5_000,
    *,
    min_hours: float | None = None,
    people_as_json: bool = False,
) -> Iterator[Lapse]:
    """The lapses in cell-code order, computed `chunk_cells` cells at a time, so that a
    province-month streams out without holding every lapse in memory. `min_hours` is the
    tolerance: lapses shorter than it (after clipping to the period) are left out — the one
    place every export, the lapse API, the cell card and the dossiers apply it; None: the
    configured one (GRIDWATCH_EXPORT_MIN_HOURS). Every lapse carries its people as JSON
    (`responsible_json`); `people_as_json`: only so (`responsible` left empty), for callers
    that write that JSON as it is."""
    if min_hours is None:
        min_hours = get_settings().export_min_hours
    if min_hours < 0:
        raise DomainError("min_hours must not be negative")
    shortest = timedelta(hours=min_hours)
    if start.tzinfo is None or end.tzinfo is None:
        raise DomainError("from and to need a time-zone offset")
    if end <= start:
        raise DomainError("to must be after from")
    if end - start > MAX_SPAN:
        raise DomainError(f"a lapse query spans at most {MAX_SPAN.days} days")
    # Nobody is accountable for time that has not happened yet.
    end = min(end, db_now(session))
    if end <= start:
        return
    windows = cells_in_window(session, selection, start, end)
    for i in range(0, len(windows), chunk_cells):
        cells = {c.id: c for c in windows[i : i + chunk_cells]}
        yield from _lapses_of(session, cells, start, end, shortest, people_as_json)


def _lapses_of(
    session: Session,
    cells: dict[int, CellWindow],
    start: datetime,
    end: datetime,
    shortest: timedelta,
    people_as_json: bool,
) -> list[Lapse]:
    lapses: list[Lapse] = []
    chunk = Selection(None, list(cells))
    params = {
        **chunk.params(),
        "start": start,
        "end": end,
        "shortest": shortest,
        "leader_duties": list(rules.LEADER_DUTIES),
        "member_duties": list(rules.MEMBER_DUTIES),
        "all_duties": list(rules.DUTIES),
    }
    rows = session.execute(load("lapses"), params).all()  # fetched at once: 3x a row at a time
    for cell_id, kind, lapse_start, lapse_end, last_patrol_at, vacant, people in rows:
        c = cells[cell_id]
        people_json = people.encode()
        lapse = Lapse(
            c.id,
            c.code,
            c.name,
            kind,
            lapse_start,
            lapse_end,
            last_patrol_at=last_patrol_at,
            patrol_interval_hours=c.patrol_interval_hours,
            cell_path=c.path,
            vacant=vacant or [],
            responsible_json=people_json,
        )
        if not people_as_json:
            lapse.responsible = people_of(people_json)
        lapses.append(lapse)
    overdue = [x for x in _overdue(session, cells, start, end) if x.end - x.start >= shortest]
    if overdue:
        duties = duties_in_window(session, sorted({x.cell_id for x in overdue}), start, end)
        for lapse in overdue:
            c = cells[lapse.cell_id]
            lapse.cell_path = c.path
            lapse.patrol_interval_hours = c.patrol_interval_hours
            lapse.responsible = responsible_during(
                duties.get(lapse.cell_id, []), (lapse.start, lapse.end)
            )
            lapse.responsible_json = orjson.dumps(lapse.responsible)
            if people_as_json:
                lapse.responsible = []
        lapses += overdue
    lapses.sort(key=lambda x: (x.cell_code, x.start, _KIND_ORDER[x.lapse]))
    return lapses


def people_of(responsible_json: bytes) -> list[Responsible]:
    """The `Responsible` list of the engine's JSON (app/sql/lapses.sql)."""
    return [
        Responsible(
            p["duty"],
            p["username"],
            p["name"],
            p["phone"],
            datetime.fromisoformat(p["start"]),
            datetime.fromisoformat(p["end"]),
        )
        for p in orjson.loads(responsible_json)
    ]


def ids(values: list[int]) -> Any:
    """One array parameter (`= ANY`) instead of thousands of IN parameters to parse and plan."""
    return literal(values, ARRAY(BigInteger))


def uuids(values: list[uuid.UUID]) -> Any:
    return literal(values, ARRAY(Uuid))


def db_now(session: Session) -> datetime:
    """The present as the rules see it (app/clock.py)."""
    return clock.now()


@dataclass
class _DutyRow:
    duty: str
    valid_from: datetime | None
    valid_to: datetime | None
    username: str
    name: str
    phone: str | None


def duties_in_window(
    session: Session, cell_ids: list[int], start: datetime, end: datetime
) -> dict[int, list[_DutyRow]]:
    out: dict[int, list[_DutyRow]] = defaultdict(list)
    for i in range(0, len(cell_ids), 20_000):
        rows = session.execute(
            select(
                Duty.cell_id,
                Duty.duty,
                Duty.valid_from,
                Duty.valid_to,
                Person.username,
                Person.name,
                Person.phone,
            )
            .join(Person, Person.id == Duty.person_id)
            .where(
                Duty.cell_id == any_(ids(cell_ids[i : i + 20_000])),
                (Duty.valid_from.is_(None)) | (Duty.valid_from < end),
                (Duty.valid_to.is_(None)) | (Duty.valid_to > start),
            )
            .order_by(Duty.cell_id, Duty.duty, Person.username, Duty.valid_from)
        )
        for cell_id, duty, since, until, username, name, phone in rows:
            out[cell_id].append(_DutyRow(duty, since, until, username, name, phone))
    return out


def responsible_during(duties: list[_DutyRow], window: Interval) -> list[Responsible]:
    out = []
    for d in duties:
        o = overlap(d.valid_from, d.valid_to, window)
        if o is not None:
            out.append(Responsible(d.duty, d.username, d.name, d.phone, o[0], o[1]))
    return out


def _overdue(
    session: Session, cells: dict[int, CellWindow], start: datetime, end: datetime
) -> list[Lapse]:
    hotspots = session.execute(
        select(Hotspot.id, Hotspot.cell_id).where(
            Hotspot.cell_id == any_(ids(list(cells))),
            Hotspot.created_at < end,
            # finished before the window: nothing of it can fall inside
            ~(Hotspot.status.in_(lifecycle.FINISHED) & (Hotspot.updated_at < start)),
        )
    ).all()
    if not hotspots:
        return []
    events: dict[uuid.UUID, list[Any]] = defaultdict(list)
    hotspot_ids = [h.id for h in hotspots]
    for e in session.execute(
        select(HotspotEvent.hotspot_id, HotspotEvent.at, HotspotEvent.to_status)
        .add_columns(
            HotspotEvent.deadline,
            HotspotEvent.assignee_id,
            HotspotEvent.actor_id,
            HotspotEvent.actor_label,
        )
        .where(HotspotEvent.hotspot_id == any_(uuids(hotspot_ids)), HotspotEvent.at < end)
        .order_by(HotspotEvent.at, HotspotEvent.id)
    ):
        events[e.hotspot_id].append(e)
    per_cell: dict[int, list[OverdueCase]] = defaultdict(list)
    for h in hotspots:
        c = cells[h.cell_id]
        for spell in overdue_spells(h.id, events[h.id]):
            clipped = clip((spell.start, spell.end), c.lo, c.hi)
            if clipped:
                spell.start, spell.end = clipped
                per_cell[h.cell_id].append(spell)
    out = []
    for cell_id, spells in per_cell.items():
        c = cells[cell_id]
        for a, b in merge((s.start, s.end) for s in spells):
            inside = [s for s in spells if s.start < b and s.end > a]
            involved = sorted({s.hotspot_id for s in inside}, key=str)
            lapse = Lapse(c.id, c.code, c.name, "overdue_hotspot", a, b, hotspots=involved)
            lapse.cases = sorted(inside, key=lambda s: (s.start, str(s.hotspot_id)))
            out.append(lapse)
    return out


def overdue_spells(hotspot_id: uuid.UUID, events: list[Any]) -> list[OverdueCase]:
    """When one hotspot was overdue (SPEC §4), spell by spell, each with the deadline then in
    force, the assignee and the dispatcher of the dispatch it came from. Events must be in
    order (with `assignee_id`, `actor_id` and `actor_label`); the last spell is open-ended."""
    out: list[OverdueCase] = []
    deadline: datetime | None = None
    assignee: int | None = None
    dispatcher: tuple[int | None, str | None] = (None, None)
    for i, e in enumerate(events):
        if e.deadline is not None:
            deadline = e.deadline
        if e.assignee_id is not None:
            assignee = e.assignee_id
        if e.to_status == "dispatched" and e.assignee_id is not None:
            dispatcher = (e.actor_id, e.actor_label)
        if e.to_status not in lifecycle.RUNNING_DEADLINE or deadline is None:
            continue
        seg_end = events[i + 1].at if i + 1 < len(events) else OPEN_END
        seg_start = max(e.at, deadline)
        if seg_start < seg_end:
            if out and out[-1].end == seg_start and out[-1].deadline == deadline:
                out[-1].end = seg_end  # the same spell, across a step that changed nothing
            else:
                out.append(
                    OverdueCase(hotspot_id, seg_start, seg_end, deadline, assignee, *dispatcher)
                )
    return out
