"""Gaps *now* read maintained summaries (cell_status, sources.inspected_at; migration 0005);
gaps in the past read the history. At the same instant both must agree, after every kind of
write that moves a summary: duties starting, ending or removed, sources placed near old
patrols, patrols voided, missed problems found and rejected, hotspots dispatched."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.domain.grid.cells import get_cell
from app.domain.supervision.gaps import Selection, gap_params
from app.models import Duty
from app.sql import load
from tests.factories import (
    CENTRES,
    UNITS,
    Field,
    give_duty,
    hotspot_body,
    person_named,
    post_as,
    report_body,
    staffed_field,
)


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    return staffed_field(client, db)


def both_ways(db: Session) -> tuple[list[Any], list[Any]]:
    """The gap rows at one instant from the summaries and from the history."""
    db.commit()
    t = datetime.now(UTC)
    out = []
    for current in (True, False):
        params = gap_params(Selection(None, None), t, current) | {"reason": None}
        rows = db.execute(load("gaps_cells"), params).all()
        out.append(
            [
                (r.code, list(r.reasons), r.open_hotspots, r.overdue_hotspots)
                + (r.uninspected_sources, r.missed_problems, r.last_patrol_at)
                for r in rows
            ]
        )
    return out[0], out[1]


def reasons_now(db: Session) -> dict[str, list[str]]:
    now, then = both_ways(db)
    assert now == then
    return {code: reasons for code, reasons, *_ in now}


def test_staffing_follows_duties_that_start_end_or_go(field: Field) -> None:
    db = field.db
    assert "unstaffed" in reasons_now(db)[UNITS[2]]
    soon = datetime.now(UTC) + timedelta(seconds=2)
    give_duty(db, person_named(db, "boss"), UNITS[2], "leader", valid_to=soon)
    give_duty(db, person_named(db, "other"), UNITS[2], "member", valid_from=soon)
    assert "unstaffed" in reasons_now(db)[UNITS[2]]  # a member only from `soon`
    give_duty(db, person_named(db, "insp"), UNITS[2], "patroller", valid_to=soon)
    assert "unstaffed" not in reasons_now(db).get(UNITS[2], [])
    time.sleep(2.5)  # past `soon`: the leader's duty ended; the summary's validity too
    assert "unstaffed" in reasons_now(db)[UNITS[2]]
    give_duty(db, person_named(db, "boss"), UNITS[2], "leader", valid_from=soon)
    assert "unstaffed" not in reasons_now(db).get(UNITS[2], [])
    db.execute(delete(Duty).where(Duty.cell_id == get_cell(db, UNITS[0]).id))
    assert "unstaffed" in reasons_now(db)[UNITS[0]]


def test_sources_follow_patrols_placed_and_voided(field: Field) -> None:
    db = field.db
    lon, lat = CENTRES[UNITS[0]]
    report = post_as(field, "/api/v1/reports", report_body(UNITS[0]), user="insp")
    # A source surveyed where a patrol passed an hour ago starts inspected.
    post_as(field, "/api/v1/sources", {"type": "outfall", "name": "排口", "lat": lat, "lon": lon})
    assert "uninspected_source" not in reasons_now(db).get(UNITS[0], [])
    # One 330 m away, where nobody went, is not.
    far = {"type": "outfall", "name": "远", "lat": lat + 0.003, "lon": lon}
    post_as(field, "/api/v1/sources", far)
    assert "uninspected_source" in reasons_now(db)[UNITS[0]]
    # A patrol next to the second one inspects it...
    near = report_body(UNITS[0], lat=lat + 0.0031, accuracy_m=500)
    flagged = post_as(field, "/api/v1/reports", near, user="insp")
    assert flagged["counted"] is False
    assert "uninspected_source" in reasons_now(db)[UNITS[0]]
    post_as(field, f"/api/v1/reports/{flagged['id']}/review", {"decision": "accept"})
    assert "uninspected_source" not in reasons_now(db).get(UNITS[0], [])
    assert report["counted"]


def test_missed_problems_and_deadlines_follow_hotspots(field: Field) -> None:
    db = field.db
    complaint = post_as(field, "/api/v1/hotspots", hotspot_body(UNITS[3], source="complaint"))
    assert "missed_problem" in reasons_now(db)[UNITS[3]]
    post_as(
        field, f"/api/v1/hotspots/{complaint['id']}/transitions", {"to": "rejected", "note": "否"}
    )
    assert "missed_problem" not in reasons_now(db).get(UNITS[3], [])
    h = post_as(field, "/api/v1/hotspots", hotspot_body(UNITS[0]))
    post_as(field, f"/api/v1/hotspots/{h['id']}/transitions", {"to": "accepted", "note": "立案"})
    deadline = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    post_as(
        field,
        f"/api/v1/hotspots/{h['id']}/transitions",
        {"to": "dispatched", "assignee": "insp", "deadline": deadline, "note": "派遣"},
    )
    assert "overdue_hotspot" not in reasons_now(db)[UNITS[0]]
    time.sleep(2.5)
    assert "overdue_hotspot" in reasons_now(db)[UNITS[0]]
