"""The lapses computed in SQL (app/sql/lapses.sql) against the Python path they replaced, on
a roster built to be awkward: duties ending exactly where others start, at the window's
edges, open-ended, supervisors only, the same post twice, instants with and without
microseconds, names JSON must escape and a person without a phone.

The reference below is the previous Python code (unstaffed runs cut at every duty change,
the vacant posts in rules.DUTIES order, each person's overlap clipped to the lapse), kept here
verbatim in substance so the SQL can be held to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy.orm import Session

from app import rules
from app.domain.supervision.gaps import Selection
from app.domain.supervision.intervals import merge
from app.domain.supervision.lapses import (
    Lapse,
    _DutyRow,
    duties_in_window,
    iter_lapses,
    responsible_during,
)
from app.models import Person
from tests.factories import give_duty, two_by_two

T0 = datetime(2026, 6, 1, tzinfo=UTC)
LO, HI = T0, T0 + timedelta(days=4)
NW, NE, SW, SE = (f"41070200100100{i}" for i in range(1, 5))


def held_at(duties: list[_DutyRow], at: datetime) -> set[str]:
    return {
        d.duty
        for d in duties
        if (d.valid_from is None or d.valid_from <= at) and (d.valid_to is None or d.valid_to > at)
    }


def reference_unstaffed(
    duties: list[_DutyRow], lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime, list[str]]]:
    """The previous Python path (lapses._unstaffed, removed) for one cell's window [lo, hi)."""
    cuts = sorted(
        {lo, hi}
        | {t for d in duties for t in (d.valid_from, d.valid_to) if t is not None and lo < t < hi}
    )
    segments = [
        (a, b)
        for a, b in zip(cuts, cuts[1:], strict=False)
        if not rules.is_staffed(held_at(duties, a))
    ]
    out = []
    for a, b in merge(segments):
        vacant = {
            duty
            for s, e in segments
            if a <= s and e <= b
            for duty in rules.DUTIES
            if duty not in held_at(duties, s)
        }
        out.append((a, b, [d for d in rules.DUTIES if d in vacant]))
    return out


def person(db: Session, username: str, name: str, phone: str | None) -> Person:
    p = Person(username=username, name=name, phone=phone, role="inspector")
    db.add(p)
    db.commit()
    return p


@pytest.fixture
def roster(db: Session) -> None:
    two_by_two(db)
    odd = person(db, "odd", 'O"Brien \\ 王\n二', None)
    lead = person(db, "lead", "网格长甲", "13900000001")
    lead2 = person(db, "lead2", "网格长乙", "13900000002")
    member = person(db, "member", "网格员", "13900000003")
    watcher = person(db, "watcher", "监督员", "13900000004")
    t = [T0 + timedelta(hours=h) for h in range(0, 97, 6)]
    micro = T0 + timedelta(hours=30, microseconds=120_500)  # trailing zeros in the fraction
    # NW: a leader throughout; members hand over exactly at t[4], then a gap to `micro`.
    give_duty(db, lead, NW, "leader")
    give_duty(db, member, NW, "member", None, t[4])
    give_duty(db, odd, NW, "patroller", t[4], t[5])
    give_duty(db, member, NW, "member", micro, None)
    give_duty(db, watcher, NW, "supervisor")
    # NE: a supervisor only, then leaders overlapping, the same post twice.
    give_duty(db, watcher, NE, "supervisor", None, t[8])
    give_duty(db, lead, NE, "leader", t[2], t[10])
    give_duty(db, lead2, NE, "leader", t[6], None)
    give_duty(db, odd, NE, "member", t[3], t[12])
    # SW: duties starting and ending at the window's edges and outside it.
    give_duty(db, lead, SW, "leader", LO, HI)
    give_duty(db, member, SW, "member", LO - timedelta(days=2), LO)
    give_duty(db, odd, SW, "patroller", HI, None)
    give_duty(db, lead2, SW, "leader", LO - timedelta(days=1), LO + timedelta(seconds=1))
    # SE: nobody at all.


def test_sql_lapses_match_the_python_path(db: Session, roster: None, time_machine: object) -> None:
    time_machine.move_to(HI + timedelta(days=1))  # type: ignore[attr-defined]
    lapses = list(iter_lapses(db, Selection(None, None), LO, HI, min_hours=0))
    as_json = list(iter_lapses(db, Selection(None, None), LO, HI, min_hours=0, people_as_json=True))
    cells = {x.cell_code: x.cell_id for x in lapses}
    assert set(cells) == {NW, NE, SW, SE}  # never patrolled: each unpatrolled throughout
    duties = duties_in_window(db, sorted(cells.values()), LO, HI)

    got = {(x.cell_code, x.start, x.end, tuple(x.vacant)) for x in lapses if x.lapse == "unstaffed"}
    expected = {
        (code, a, b, tuple(vacant))
        for code, cell_id in cells.items()
        for a, b, vacant in reference_unstaffed(duties.get(cell_id, []), LO, HI)
    }
    assert got == expected
    assert len(expected) >= 5  # the roster above has runs in every cell

    for x in lapses:
        people = responsible_during(duties.get(x.cell_id, []), (x.start, x.end))
        assert x.responsible == people, x
        # The JSON the lapse API wrote with orjson from these objects, byte for byte.
        assert x.responsible_json == orjson.dumps(people)
    assert [(x.cell_code, x.lapse, x.start, x.responsible_json) for x in as_json] == [
        (x.cell_code, x.lapse, x.start, x.responsible_json) for x in lapses
    ]
    assert all(x.responsible == [] for x in as_json)
    odd = [r for x in lapses for r in x.responsible if r.username == "odd"]
    assert odd and all(r.phone is None and r.name == 'O"Brien \\ 王\n二' for r in odd)
    ordered = sorted(lapses, key=sort_key)
    assert lapses == ordered


def sort_key(x: Lapse) -> tuple[str, datetime, int]:
    return (x.cell_code, x.start, ("unpatrolled", "overdue_hotspot", "unstaffed").index(x.lapse))


def test_the_tolerance_leaves_out_short_lapses_in_sql_too(
    db: Session, roster: None, time_machine: object
) -> None:
    time_machine.move_to(HI + timedelta(days=1))  # type: ignore[attr-defined]
    every = list(iter_lapses(db, Selection(None, None), LO, HI, min_hours=0))
    hours = 7
    kept = list(iter_lapses(db, Selection(None, None), LO, HI, min_hours=hours))
    assert any(x.end - x.start < timedelta(hours=hours) for x in every)
    assert [(x.cell_code, x.lapse, x.start) for x in kept] == [
        (x.cell_code, x.lapse, x.start) for x in every if x.end - x.start >= timedelta(hours=hours)
    ]
