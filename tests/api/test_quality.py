"""Coverage quality, indicators with ranking, and spot-check plans."""

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import CENTRES, UNITS, Field, report_body, staffed_field

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime.now(UTC)


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    return staffed_field(client, db)


def patrol(field: Field, cell: str, when: datetime, **extra: object) -> dict:
    r = field.client.post(
        "/api/v1/reports",
        headers=field.headers("insp"),
        json=report_body(cell, observed_at=when.isoformat(), **extra),
    )
    assert r.status_code == 201
    return r.json()


def test_spatial_coverage_is_the_area_within_150_m_of_recent_patrols(field: Field) -> None:
    patrol(field, UNITS[0], NOW - timedelta(hours=3))
    r = field.client.get(f"/api/v1/cells/{UNITS[0]}/coverage", headers=field.headers("sup"))
    assert r.status_code == 200, r.text
    body = r.json()
    cell_area = field.client.get(f"/api/v1/cells/{UNITS[0]}", headers=field.headers("sup")).json()[
        "area_m2"
    ]
    assert body["spatial_share"] == pytest.approx(math.pi * 150**2 / cell_area, rel=0.02)
    # Once the interval (72 h) has passed, the point no longer covers anything.
    later = (NOW + timedelta(hours=80)).isoformat()
    stale = field.client.get(
        f"/api/v1/cells/{UNITS[0]}/coverage", params={"as_of": later}, headers=field.headers("sup")
    ).json()
    assert stale["spatial_share"] == 0


def test_night_and_weekend_shares_use_local_time(
    field: Field, time_machine: time_machine.TimeMachineFixture
) -> None:
    # The patrols are filed on the Thursday after them (within the late-sync limit) whatever
    # today's date: the server's clock is the test's.
    time_machine.move_to(datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI))
    saturday_night = datetime(2026, 11, 21, 22, 30, tzinfo=SHANGHAI)  # a Saturday
    tuesday_noon = datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI)
    wednesday_early = datetime(2026, 11, 25, 5, 30, tzinfo=SHANGHAI)
    for when in (saturday_night, tuesday_noon, wednesday_early):
        r = field.client.post(
            "/api/v1/reports",
            headers=field.headers("insp"),
            json=report_body(UNITS[0], observed_at=when.isoformat()),
        )
        assert r.status_code == 201
    as_of = datetime(2026, 11, 26, tzinfo=SHANGHAI).isoformat()
    body = field.client.get(
        f"/api/v1/cells/{UNITS[0]}/coverage", params={"as_of": as_of}, headers=field.headers("sup")
    ).json()
    assert body["patrols_30d"] == 3
    assert body["night_patrols_30d"] == 2 and body["weekend_patrols_30d"] == 1
    assert body["night_share"] == pytest.approx(2 / 3, abs=1e-3)
    gaps = field.client.get(
        "/api/v1/gaps", params={"coverage": True, "as_of": as_of}, headers=field.headers("sup")
    ).json()
    assert all("coverage" in c for c in gaps["cells"])


def test_indicators_per_cell_person_and_district(field: Field) -> None:
    start, end = NOW - timedelta(days=6), NOW
    for hours in range(0, 144, 48):  # every 48 h in a 72 h cell: requirement always met
        patrol(field, UNITS[0], start + timedelta(hours=hours))
    patrol(field, UNITS[1], start + timedelta(hours=1), accuracy_m=500)  # filed, not counted
    params = {"from": start.isoformat(), "to": end.isoformat()}
    h = field.headers("sup")

    cells = field.client.get("/api/v1/indicators", params={**params, "by": "cell"}, headers=h)
    assert cells.status_code == 200, cells.text
    rows = {r["code"]: r for r in cells.json()["rows"]}
    assert rows[UNITS[0]]["patrol_met_rate"] == 1.0 and rows[UNITS[0]]["rank"] == 1
    assert rows[UNITS[0]]["valid_report_rate"] == 1.0
    assert rows[UNITS[1]]["valid_report_rate"] == 0.0
    # Never patrolled in six days: 0 % (the lapse starts at `from`).
    assert rows[UNITS[2]]["patrol_met_rate"] == 0.0
    assert [rows[u]["rank"] for u in UNITS[2:]] == [3, 4]  # ties in code order

    people = field.client.get(
        "/api/v1/indicators", params={**params, "by": "person"}, headers=h
    ).json()["rows"]
    insp = next(r for r in people if r["username"] == "insp")
    assert insp["counts"]["filed"] == 4 and insp["counts"]["counted"] == 3
    assert 0.4 < insp["patrol_met_rate"] < 0.6  # one of two cells always met, one never

    districts = field.client.get("/api/v1/indicators", params=params, headers=h).json()["rows"]
    assert [d["code"] for d in districts] == ["410702001"]
    assert districts[0]["patrol_met_rate"] == pytest.approx(0.25, abs=0.01)


def test_spot_checks_are_reproducible_with_a_seed_and_weighted(field: Field) -> None:
    lon, lat = CENTRES[UNITS[3]]
    field.client.post(
        "/api/v1/sources",
        headers=field.headers("sup"),
        json={"type": "outfall", "name": "排口", "lat": lat, "lon": lon},
    )
    h = field.headers("sup")
    first = field.client.get("/api/v1/spot-checks", params={"n": 3, "seed": 42}, headers=h)
    again = field.client.get("/api/v1/spot-checks", params={"n": 3, "seed": 42}, headers=h)
    assert first.status_code == 200, first.text
    assert first.json() == again.json()
    plan = first.json()
    assert plan["seed"] == 42 and plan["candidates"] == 5 and len(plan["stops"]) == 3
    assert [s["order"] for s in plan["stops"]] == [1, 2, 3]
    assert all(s["weight"] > 0 and s["why"] for s in plan["stops"])
    unseeded = {
        field.client.get("/api/v1/spot-checks", params={"n": 2}, headers=h).json()["seed"]
        for _ in range(3)
    }
    assert len(unseeded) == 3  # a fresh, unpredictable seed each time
    assert field.client.get("/api/v1/spot-checks", headers=field.headers("insp")).status_code == 403


def test_weighting_prefers_stale_and_high_risk_cells() -> None:
    import random

    from app.domain.supervision.spotcheck import Stop, sample, weight_of

    fresh, _ = weight_of(0.1, 0, "low")
    stale, why = weight_of(None, 3, "high")
    assert stale > 10 * fresh and why == ["never_patrolled", "flagged_reports", "high_risk"]
    stops = [Stop("cell", "fresh", "", 0, 0, fresh, []), Stop("cell", "stale", "", 0, 0, stale, [])]
    picks = [sample(stops, 1, random.Random(i))[0].ref for i in range(400)]
    assert picks.count("stale") > 0.85 * len(picks)


def test_reports_outside_every_cell_lower_the_valid_report_rate(field: Field) -> None:
    start = NOW - timedelta(days=2)
    patrol(field, UNITS[0], start + timedelta(hours=1))
    outside = report_body(
        UNITS[0], observed_at=(start + timedelta(hours=2)).isoformat(), lat=10.0, lon=10.0
    )
    field.client.post("/api/v1/reports", json=outside, headers=field.headers("insp"))
    rows = field.client.get(
        "/api/v1/indicators",
        headers=field.headers("sup"),
        params={"from": start.isoformat(), "to": NOW.isoformat(), "by": "person"},
    ).json()["rows"]
    insp = next(r for r in rows if r["username"] == "insp")
    assert insp["counts"]["filed"] == 2 and insp["valid_report_rate"] == 0.5
