"""The per-parent roll-up (cell_rollup, migration 0014) answers the low-zoom tiles and the
dashboards' roll-up now. It must equal a recount of the leaves — from their summaries and
from the history — at now and later instants, after every kind of write that moves it:
patrols, voided patrols, duty rotations, sources, hotspots with deadlines, missed problems,
a bulk rebuild, a change of the tree."""

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, text
from sqlalchemy.orm import Session

from app.db import make_sessionmaker
from app.domain.grid.cells import get_cell
from app.domain.status import rebuild_summaries, record_visit, remove_report_visits
from app.domain.supervision.gaps import COUNTS, Selection, area_counts, gap_params
from app.models import Duty
from app.sql import load
from tests.factories import (
    CENTRES,
    UNITS,
    X0,
    Y0,
    Field,
    NewCell,
    give_duty,
    hotspot_body,
    make_cells,
    person_named,
    post_as,
    report_body,
    square,
    staffed_field,
)

INSTANTS = (timedelta(0), timedelta(hours=30), timedelta(hours=80), timedelta(days=40))


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    return staffed_field(client, db)


def recount(db: Session, t: datetime, idx: int, shallow: bool, history: bool) -> dict[Any, Any]:
    """The counts per area from the leaves alone: their summaries, or the history."""
    params = gap_params(Selection(None, None), t, not history) | {"idx": idx, "shallow": shallow}
    found = {}
    for row in db.execute(load("area_counts"), params):
        counts = row._asdict()
        found[counts.pop("id")] = counts
    return found


def slow_leaves(db: Session, t: datetime) -> list[int]:
    """The leaves the roll-up does not answer for at t (counted the usual way instead)."""
    params = {"root_path": None, "under": None, "idx": 0, "t": t}
    return list(db.execute(load("rollup_now"), params).one().slow)


def agree(db: Session) -> None:
    """At several instants from now on, at every depth: roll-up == summaries == history."""
    db.commit()
    now = datetime.now(UTC)
    for ahead in INSTANTS:
        t = now + ahead
        for idx in range(4):
            for shallow in (True, False):
                rolled = area_counts(db, Selection(None, None), t, True, idx, shallow)
                assert rolled == recount(db, t, idx, shallow, history=False), (ahead, idx)
                assert rolled == recount(db, t, idx, shallow, history=True), (ahead, idx)
    db.rollback()


def rollup_rows(db: Session) -> dict[int, Any]:
    rows = db.execute(text("SELECT parent_id, leaf_cells, updated_at FROM cell_rollup"))
    return {r.parent_id: r for r in rows}


def test_the_rollup_equals_a_recount_after_writes_voids_and_rotations(field: Field) -> None:
    db = field.db
    street = get_cell(db, "410702001").id
    agree(db)
    # The street's four unit cells are summarised in one row the gap answers read alone.
    assert rollup_rows(db)[street].leaf_cells == 4
    assert slow_leaves(db, datetime.now(UTC)) == []
    before = rollup_rows(db)[street].updated_at

    # Patrols, one of them three days old: unpatrolled from 72 h after it.
    old = (datetime.now(UTC) - timedelta(hours=60)).isoformat()
    post_as(field, "/api/v1/reports", report_body(UNITS[0], observed_at=old), user="insp")
    voided = post_as(field, "/api/v1/reports", report_body(UNITS[1]), user="insp")
    assert rollup_rows(db)[street].updated_at > before
    agree(db)
    # Voided: the patrol leaves the history, the summary and the roll-up.
    remove_report_visits(db, voided["id"])
    agree(db)

    # A source far from any patrol, hotspots with a deadline and a missed complaint.
    lon, lat = CENTRES[UNITS[0]]
    post_as(field, "/api/v1/sources", {"type": "outfall", "name": "排口", "lat": lat, "lon": lon})
    post_as(field, "/api/v1/hotspots", hotspot_body(UNITS[3], source="complaint"))
    h = post_as(field, "/api/v1/hotspots", hotspot_body(UNITS[1]))
    post_as(field, f"/api/v1/hotspots/{h['id']}/transitions", {"to": "accepted", "note": "立案"})
    deadline = (datetime.now(UTC) + timedelta(hours=20)).isoformat()
    step = {"to": "dispatched", "assignee": "insp", "deadline": deadline, "note": "派遣"}
    post_as(field, f"/api/v1/hotspots/{h['id']}/transitions", step)
    agree(db)

    # Rotations: a leader leaves, another comes tomorrow; a cell with no duty gets one.
    boss, other = person_named(db, "boss"), person_named(db, "other")
    db.execute(
        delete(Duty).where(Duty.cell_id == get_cell(db, UNITS[0]).id, Duty.person_id == boss.id)
    )
    give_duty(db, other, UNITS[0], "leader", valid_from=datetime.now(UTC) + timedelta(days=1))
    give_duty(db, boss, UNITS[2], "leader")
    give_duty(db, other, UNITS[2], "member")
    agree(db)
    # A staffing change ahead bounds what the row answers for: after it, those leaves are
    # counted the usual way, and still right.
    assert slow_leaves(db, datetime.now(UTC) + timedelta(days=2)) != []
    assert slow_leaves(db, datetime.now(UTC)) == []


def test_the_rollup_follows_a_rebuild_and_a_new_branch_of_the_tree(field: Field) -> None:
    db = field.db
    post_as(field, "/api/v1/reports", report_body(UNITS[0]), user="insp")
    # Summaries lost and rebuilt from the facts: the roll-up follows at commit.
    db.execute(text("UPDATE cell_rollup SET leaf_cells = 0, unpatrolled_at = '{}'"))
    db.commit()
    rebuild_summaries(db)
    agree(db)
    # A new street with a unit cell of its own: a new row, counted from the start.
    street, unit = make_cells(
        db,
        NewCell("410702002", "东街街道", 3, "410702", square(X0 + 0.02, Y0, 0.01)),
        NewCell("410702002001001", "新", 5, "410702002", square(X0 + 0.02, Y0)),
    )
    assert rollup_rows(db)[street.id].leaf_cells == 1
    agree(db)

    # The new parent's outlines for the low zooms, one per band, follow its geometry.
    def outlines(cell: int) -> list[Any]:
        q = "SELECT band, ST_AsText(ST_Transform(geom, 4326), 4) FROM cell_outlines "
        return db.execute(text(q + "WHERE cell_id = :c ORDER BY band"), {"c": cell}).all()

    assert [band for band, _ in outlines(street.id)] == [0, 1, 2]
    assert outlines(unit.id) == []  # leaves are drawn from their own geometry
    db.execute(
        text("UPDATE cells SET geom = ST_Multi(ST_MakeEnvelope(1, 2, 3, 4, 4326)) WHERE id = :c"),
        {"c": street.id},
    )
    db.commit()
    assert {shape for _, shape in outlines(street.id)} == {"POLYGON((1 2,1 4,3 4,3 2,1 2))"}
    # Its unit cell gone again: the row goes with it.
    db.delete(unit)
    db.commit()
    assert street.id not in rollup_rows(db)
    agree(db)
    assert set(COUNTS) >= {"leaf_cells", "without_gaps", "patrolled"}


def test_concurrent_patrols_under_one_parent_both_reach_the_rollup(
    field: Field, engine: Engine
) -> None:
    """Two transactions patrol two cells of one street. The first recomputes the street's
    roll-up (its commit-time step, run early here) and holds it while the second commits:
    the second must wait, then count the first's patrol too."""
    insp = person_named(field.db, "insp").id
    street = get_cell(field.db, "410702001").id
    cells = [get_cell(field.db, code).id for code in UNITS[:2]]
    errors: list[BaseException] = []

    def visit(session: Session, n: int) -> None:
        lon, lat = CENTRES[UNITS[n]]
        record_visit(
            session,
            cell_id=cells[n],
            person_id=insp,
            observed_at=datetime.now(UTC),
            geom=f"SRID=4326;POINT({lon} {lat})",
        )

    def second() -> None:
        try:
            with make_sessionmaker(engine)() as s, s.begin():
                visit(s, 1)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with make_sessionmaker(engine)() as first:
        visit(first, 0)
        first.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # the roll-up step, now
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)  # the second transaction is committing: waiting on the street
        first.commit()
    thread.join(timeout=30)
    assert not errors
    patrolled = field.db.scalar(
        text("SELECT patrolled FROM cell_rollup WHERE parent_id = :p"), {"p": street}
    )
    assert patrolled == 2
    agree(field.db)
