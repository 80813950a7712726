"""Due times, the plan of the day and the cells at risk, on a controlled clock: 08:00 local
(Asia/Shanghai) on a fixed day, so "due before the day ends" leaves 16 hours."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.domain.supervision.due import cells_at_risk_by_leader
from app.models import Cell
from tests.factories import (
    CENTRES,
    UNITS,
    Field,
    give_duty,
    make_user,
    report_body,
    staffed_field,
)

MORNING = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in Xinxiang


@pytest.fixture
def field(client: TestClient, db: Session, time_machine: Any) -> Field:
    time_machine.move_to(MORNING, tick=False)
    return staffed_field(client, db)


def patrol(field: Field, cell: str, hours_ago: float, user: str = "insp", **extra: Any) -> dict:
    at = MORNING - timedelta(hours=hours_ago)
    body = report_body(cell, observed_at=at.isoformat(), **extra)
    r = field.client.post("/api/v1/reports", json=body, headers=field.headers(user))
    assert r.status_code == 201, r.text
    return r.json()


def get(field: Field, path: str, user: str = "insp", **params: Any) -> dict:
    r = field.client.get(path, params=params, headers=field.headers(user))
    assert r.status_code == 200, r.text
    return r.json()


def refs(doc: dict) -> list[str]:
    return [i["ref"] for i in doc["items"]]


def test_a_cell_patrolled_70_hours_ago_is_due_in_2_hours_and_listed_first(field: Field) -> None:
    patrol(field, UNITS[1], 60)  # medium risk, 72 h: due in 12 h
    patrol(field, UNITS[0], 70)  # due in 2 h
    due = get(field, "/api/v1/due", hours=24)
    assert refs(due) == [UNITS[0], UNITS[1]]
    first = due["items"][0]
    assert first["hours_left"] == 2.0
    assert first["overdue"] is False
    assert first["due_at"] == (MORNING + timedelta(hours=2)).isoformat()
    assert {(p["duty"], p["username"]) for p in first["on_duty"]} == {
        ("member", "insp"),
        ("leader", "boss"),
    }
    assert get(field, "/api/v1/due", hours=1)["items"] == []
    # The plan of the day from U0's centre: both fall due before midnight; U0 first.
    lon, lat = CENTRES[UNITS[0]]
    plan = get(field, "/api/v1/plan", lat=lat, lon=lon)
    assert refs(plan) == [UNITS[0], UNITS[1]]
    assert plan["items"][0]["hours_left"] == 2.0


def test_never_patrolled_is_overdue_at_the_top(field: Field) -> None:
    patrol(field, UNITS[1], 70)
    due = get(field, "/api/v1/due", hours=24)
    assert refs(due) == [UNITS[0], UNITS[1]]
    assert due["items"][0]["due_at"] is None
    assert due["items"][0]["overdue"] is True
    assert due["overdue"] == 1


def test_a_counted_patrol_takes_a_cell_off_the_plan_a_voided_one_does_not(field: Field) -> None:
    patrol(field, UNITS[0], 70)
    patrol(field, UNITS[1], 10)  # due in 62 h: not today
    assert refs(get(field, "/api/v1/plan")) == [UNITS[0]]
    voided = patrol(field, UNITS[0], 0.5, accuracy_m=500)
    assert voided["counted"] is False
    assert refs(get(field, "/api/v1/plan")) == [UNITS[0]]
    counted = patrol(field, UNITS[0], 0.25)
    assert counted["counted"] is True
    assert refs(get(field, "/api/v1/plan")) == []


def test_sources_fall_due_with_their_own_interval(field: Field) -> None:
    lon, lat = CENTRES[UNITS[0]]
    body = {"type": "outfall", "name": "卫河排口3号", "lat": lat + 0.001, "lon": lon}
    created = field.client.post("/api/v1/sources", json=body, headers=field.headers("insp"))
    assert created.status_code == 201, created.text
    source_id = str(created.json()["id"])
    patrol(field, UNITS[0], 1)
    patrol(field, UNITS[1], 2)
    # The patrols 1 and 2 h ago were 111 m from the outfall: it was never inspected.
    due = get(field, "/api/v1/due", hours=24)
    assert refs(due) == [source_id]
    assert due["items"][0]["kind"] == "source"
    assert due["items"][0]["cell_code"] == UNITS[0]
    patrol(field, UNITS[0], 0.5, lat=lat + 0.001, lon=lon)  # at the outfall
    assert refs(get(field, "/api/v1/due", hours=24)) == []
    item = get(field, "/api/v1/due", hours=80)["items"]
    assert ("source", source_id) in {(i["kind"], i["ref"]) for i in item}


def test_each_sees_the_due_cells_of_their_own_view(field: Field) -> None:
    assert refs(get(field, "/api/v1/due")) == UNITS[:2]
    assert refs(get(field, "/api/v1/due", user="other")) == [UNITS[3]]
    assert refs(get(field, "/api/v1/due", user="sup")) == UNITS
    r = field.client.get("/api/v1/due", params={"within": UNITS[3]}, headers=field.headers("insp"))
    assert refs(r.json()) == []
    assert get(field, "/api/v1/plan", user="sup")["items"] == []  # no duty, no plan


@pytest.mark.parametrize(
    ("params", "field_name"),
    [
        ({"hours": -1}, "hours"),
        ({"hours": "soon"}, "hours"),
        ({"hours": 10000}, "hours"),
        ({"limit": 0}, "limit"),
        ({"hours": "nan"}, "hours"),
        ({"hours": "inf"}, "hours"),
    ],
)
def test_bad_windows_are_refused_by_name(field: Field, params: dict, field_name: str) -> None:
    r = field.client.get("/api/v1/due", params=params, headers=field.headers("insp"))
    assert r.status_code == 422
    assert field_name in r.text


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"lat": 35.3}, "lat and lon"),
        ({"date": "2026-03-01"}, "date"),
        ({"date": "tomorrow"}, "date"),
        ({"lat": 95, "lon": 113}, "lat"),
        ({"lat": "nan", "lon": 113}, "lat"),
        ({"date": "9999-12-31"}, "date"),
    ],
)
def test_bad_plan_requests_are_refused_by_name(field: Field, params: dict, words: str) -> None:
    r = field.client.get("/api/v1/plan", params=params, headers=field.headers("insp"))
    assert r.status_code == 422, r.text
    assert words in r.text


def test_a_later_day_plans_what_falls_due_by_its_end(field: Field) -> None:
    patrol(field, UNITS[0], 10)  # due in 62 h: on the day after tomorrow, 22:00 local
    patrol(field, UNITS[1], 1)
    assert refs(get(field, "/api/v1/plan")) == []
    assert refs(get(field, "/api/v1/plan", date="2026-03-03")) == []
    assert refs(get(field, "/api/v1/plan", date="2026-03-04")) == [UNITS[0]]


def test_cells_at_risk_by_district_and_leader(field: Field, db: Session) -> None:
    patrol(field, UNITS[0], 70)  # due in 2 h: at risk
    patrol(field, UNITS[1], 60)  # due in 12 h: not within 6 h
    patrol(field, UNITS[3], 71, user="other")  # due in 1 h, but no leader on duty
    panel = get(field, "/api/v1/at-risk", user="sup")
    assert panel["hours"] == 6
    assert panel["cells"] == 2
    [district] = panel["districts"]
    assert district["code"] == "410702"
    by_leader = {g["username"]: [c["ref"] for c in g["cells"]] for g in district["leaders"]}
    assert by_leader == {None: [UNITS[3]], "boss": [UNITS[0]]}
    wider = get(field, "/api/v1/at-risk", user="sup", hours=13)
    assert wider["cells"] == 3
    # never patrolled (UNITS[2]) has lapsed already: a gap, not a risk
    layer = get(field, "/api/v1/at-risk", user="sup", format="geojson")
    assert [f["id"] for f in layer["features"]] == [UNITS[3], UNITS[0]]
    assert layer["features"][0]["geometry"]["type"] == "MultiPolygon"
    # the leader's digest, for the notifier
    db.commit()
    digests = cells_at_risk_by_leader(db)
    assert [(d.username, [c.ref for c in d.cells]) for d in digests] == [("boss", [UNITS[0]])]


def test_a_supervisors_duty_is_not_on_their_plan_of_the_day(field: Field, db: Session) -> None:
    """监督员 oversee a cell; the walking is the leader's, members' and patrollers'."""
    both = make_user(db, "both", "inspector")
    give_duty(db, both, UNITS[2], "supervisor")
    give_duty(db, both, UNITS[3], "patroller")
    assert refs(get(field, "/api/v1/plan", user="both")) == [UNITS[3]]


def test_the_district_is_the_version_valid_now(field: Field, db: Session) -> None:
    patrol(field, UNITS[0], 70)  # due in 2 h: at risk
    # The district's row retired yesterday: the panel does not name it any more.
    db.execute(
        update(Cell).where(Cell.code == "410702").values(valid_to=MORNING - timedelta(days=1))
    )
    db.commit()
    panel = get(field, "/api/v1/at-risk", user="sup")
    assert panel["cells"] == 1
    assert [d["code"] for d in panel["districts"]] != ["410702"]
    [item] = [i for i in get(field, "/api/v1/due", user="sup")["items"] if i["ref"] == UNITS[0]]
    assert item["district_code"] != "410702"
