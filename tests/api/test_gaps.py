"""GET /api/v1/gaps, /gaps/rollup and /lapses through the API, with scope."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.domain.supervision import gaps as gap_engine
from tests.factories import (
    CENTRES,
    UNITS,
    Field,
    give_duty,
    hotspot_body,
    make_user,
    report_body,
    staffed_field,
)

NOW = datetime.now(UTC)


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    return staffed_field(client, db)


def gaps(field: Field, user: str = "sup", **params: object) -> dict:
    r = field.client.get("/api/v1/gaps", params=params, headers=field.headers(user))
    assert r.status_code == 200, r.text
    return r.json()


def reasons(body: dict) -> dict[str, list[str]]:
    return {c["code"]: c["reasons"] for c in body["cells"]}


def patrol(field: Field, cell: str, when: datetime, user: str = "insp") -> None:
    r = field.client.post(
        "/api/v1/reports",
        json=report_body(cell, observed_at=when.isoformat()),
        headers=field.headers(user),
    )
    assert r.json()["counted"], r.json()


def test_gaps_now_name_every_reason_with_a_summary(field: Field) -> None:
    patrol(field, UNITS[0], NOW - timedelta(hours=1))
    patrol(field, UNITS[1], NOW - timedelta(hours=80))  # medium risk: 72 h interval
    body = gaps(field)
    got = reasons(body)
    assert UNITS[0] not in got
    assert got[UNITS[1]] == ["unpatrolled"]
    assert got[UNITS[2]] == ["never_patrolled", "unstaffed"]
    cell = next(c for c in body["cells"] if c["code"] == UNITS[1])
    assert cell["patrol_interval_hours"] == 72 and cell["last_patrol_at"] is not None
    assert body["summary"]["leaf_cells"] == 4 and body["summary"]["cells_with_gaps"] == 3
    assert body["summary"]["patrolled_share"] == 0.25
    only = gaps(field, reason="unpatrolled")
    assert [c["code"] for c in only["cells"]] == [UNITS[1]]


@pytest.mark.parametrize("scan", [512, 1])  # leaves evaluated per step: one page, many steps
def test_gaps_in_pages_add_up_to_the_whole_answer(
    field: Field, scan: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gap_engine, "PAGE_SCAN", scan)
    patrol(field, UNITS[0], NOW - timedelta(hours=1))
    patrol(field, UNITS[1], NOW - timedelta(hours=80))
    r = field.client.post(
        "/api/v1/hotspots", json=hotspot_body(UNITS[0]), headers=field.headers("sup")
    )
    assert r.status_code == 201, r.text
    past = (NOW - timedelta(hours=2)).isoformat()
    for params in ({}, {"as_of": past}, {"within": "410702001"}, {"reason": "unstaffed"}):
        whole = gaps(field, **params)
        for limit in (1, 2, 3, 10):
            cells, after, pages = [], None, 0
            while True:
                page = gaps(field, limit=limit, **params, **({"after": after} if after else {}))
                assert len(page["cells"]) <= limit
                assert page["summary"] == whole["summary"]
                cells += page["cells"]
                pages += 1
                after = page["next"]
                if after is None:
                    break
            assert cells == whole["cells"], (params, limit)
            assert pages >= len(whole["cells"]) // limit
    # Pages are for the JSON answer; a file is whole.
    r = field.client.get(
        "/api/v1/gaps", params={"limit": 2, "format": "csv"}, headers=field.headers("sup")
    )
    assert r.status_code == 400
    # An inspector's page holds only the inspector's cells.
    mine = gaps(field, user="insp", limit=1)
    assert {c["code"] for c in mine["cells"]} <= {UNITS[0], UNITS[1]}
    assert mine["summary"]["leaf_cells"] == 2


def test_past_as_of_is_stable_after_later_reports(field: Field) -> None:
    t = NOW - timedelta(hours=2)
    patrol(field, UNITS[0], NOW - timedelta(hours=5))
    before = gaps(field, as_of=t.isoformat())
    patrol(field, UNITS[1], NOW - timedelta(minutes=30))
    patrol(field, UNITS[0], NOW - timedelta(minutes=10))
    after = gaps(field, as_of=t.isoformat())
    assert after == before
    assert reasons(gaps(field)) != reasons(before)  # while the present did change


def test_overdue_hotspot_shows_now_and_not_before_its_deadline(field: Field) -> None:
    h = field.client.post(
        "/api/v1/hotspots",
        headers=field.headers("sup"),
        json=hotspot_body(UNITS[0], description="扬尘", source="inspection"),
    ).json()
    field.client.post(
        f"/api/v1/hotspots/{h['id']}/transitions",
        json={"to": "accepted"},
        headers=field.headers("sup"),
    )
    deadline = NOW + timedelta(hours=1)
    field.client.post(
        f"/api/v1/hotspots/{h['id']}/transitions",
        json={"to": "dispatched", "assignee": "insp", "deadline": deadline.isoformat()},
        headers=field.headers("sup"),
    )
    assert "overdue_hotspot" not in reasons(gaps(field)).get(UNITS[0], [])
    later = gaps(field, as_of=(deadline + timedelta(minutes=1)).isoformat())
    assert {"open_hotspot", "overdue_hotspot"} <= set(reasons(later)[UNITS[0]])
    assert "missed_problem" in reasons(later)[UNITS[0]]


def test_geojson_and_scope(field: Field) -> None:
    geo = gaps(field, "cmd", format="geojson", within="410702001")
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 4
    assert geo["features"][0]["geometry"]["type"] == "MultiPolygon"
    mine = gaps(field, "insp")
    assert {c["code"] for c in mine["cells"]} <= set(UNITS[:2])
    assert mine["summary"]["leaf_cells"] == 2
    make_user(field.db, "narrow", "command", scope=UNITS[3])
    denied = field.client.get(
        "/api/v1/gaps", params={"within": UNITS[0]}, headers=field.headers("narrow")
    )
    assert denied.status_code == 404  # out of scope answers as a missing code


def test_rollup_counts_leaves_per_parent(field: Field) -> None:
    body = field.client.get(
        "/api/v1/gaps/rollup", params={"within": "410702"}, headers=field.headers("sup")
    ).json()
    [street] = body["parents"]
    assert street["code"] == "410702001" and street["leaf_cells"] == 4
    assert street["never_patrolled"] == 4 and street["without_gaps"] == 0


def test_lapses_name_the_people_on_duty_then_not_today(field: Field) -> None:
    start = NOW - timedelta(days=2)
    # 东南 (…004): `other` was member until a day ago, then `newbie`; nobody led it.
    field.db.execute(
        text(
            "UPDATE duties SET valid_to = :t WHERE cell_id = (SELECT id FROM cells WHERE code = :c)"
        ),
        {"t": NOW - timedelta(days=1), "c": UNITS[3]},
    )
    field.db.commit()
    newbie = make_user(field.db, "newbie", "inspector")
    give_duty(field.db, newbie, UNITS[3], "member", valid_from=NOW - timedelta(days=1))
    r = field.client.get(
        "/api/v1/lapses",
        headers=field.headers("sup"),
        params={"from": start.isoformat(), "to": NOW.isoformat(), "within": UNITS[3]},
    )
    assert r.status_code == 200, r.text
    lapses = r.json()["lapses"]
    kinds = [x["lapse"] for x in lapses]
    assert kinds == ["unpatrolled", "unstaffed"]
    for x in lapses:
        assert x["start"] == start.isoformat() and x["hours"] == pytest.approx(48, abs=0.01)
        people = {(p["username"], p["duty"]): p for p in x["responsible"]}
        assert set(people) == {("other", "member"), ("newbie", "member")}
        assert people[("other", "member")]["end"] == (NOW - timedelta(days=1)).isoformat()
        assert people[("newbie", "member")]["start"] == (NOW - timedelta(days=1)).isoformat()
        assert people[("other", "member")]["phone"] == "13900000000"


def test_lapses_validate_their_window(field: Field) -> None:
    h = field.headers("sup")
    bad = [
        {"from": NOW.isoformat(), "to": (NOW - timedelta(hours=1)).isoformat()},
        {"from": (NOW - timedelta(days=500)).isoformat(), "to": NOW.isoformat()},
        {"from": "yesterday", "to": NOW.isoformat()},
        {"from": "1999-01-01", "to": NOW.isoformat()},
    ]
    for params in bad:
        r = field.client.get("/api/v1/lapses", params=params, headers=h)
        assert 400 <= r.status_code < 500, params
    assert (
        field.client.get("/api/v1/gaps", params={"reason": "bored"}, headers=h).status_code == 422
    )


def test_dates_without_an_offset_are_local_time(field: Field) -> None:
    h = field.headers("sup")
    day = field.client.get(
        "/api/v1/lapses",
        headers=h,
        params={"from": "2026-11-01", "to": "2026-11-02", "within": UNITS[2]},
    )
    assert day.status_code == 200
    assert day.json()["from"] == "2026-11-01T00:00:00+08:00"
    same = field.client.get("/api/v1/gaps", params={"as_of": "2026-11-01T08:00:00"}, headers=h)
    other = field.client.get("/api/v1/gaps", params={"as_of": "2026-11-01T00:00:00Z"}, headers=h)
    assert datetime.fromisoformat(same.json()["as_of"]) == datetime.fromisoformat(
        other.json()["as_of"]
    )


def test_lapses_stop_at_the_present(field: Field) -> None:
    patrol(field, UNITS[0], NOW - timedelta(minutes=5))
    r = field.client.get(
        "/api/v1/lapses",
        headers=field.headers("sup"),
        params={
            "from": (NOW - timedelta(hours=1)).isoformat(),
            "to": (NOW + timedelta(days=10)).isoformat(),
            "within": UNITS[0],
        },
    )
    assert r.status_code == 200
    assert all(datetime.fromisoformat(x["end"]) <= datetime.now(UTC) for x in r.json()["lapses"])
    # Unpatrolled from the window start until the patrol; nothing after it, though `to` is
    # ten days ahead.
    [lapse] = r.json()["lapses"]
    assert lapse["lapse"] == "unpatrolled"
    assert datetime.fromisoformat(lapse["end"]) == NOW - timedelta(minutes=5)


def test_lapses_and_indicators_are_for_accountability_roles(field: Field) -> None:
    params = {"from": (NOW - timedelta(days=1)).isoformat(), "to": NOW.isoformat()}
    for path in ("/api/v1/lapses", "/api/v1/indicators"):
        assert (
            field.client.get(path, params=params, headers=field.headers("insp")).status_code == 403
        )
        assert (
            field.client.get(path, params=params, headers=field.headers("disc")).status_code == 200
        )


def test_editing_a_source_is_not_inspecting_it(field: Field) -> None:
    lon, lat = CENTRES[UNITS[3]]
    s = field.client.post(
        "/api/v1/sources",
        headers=field.headers("sup"),
        json={"type": "outfall", "name": "排口", "lat": lat, "lon": lon},
    ).json()
    field.client.patch(
        f"/api/v1/sources/{s['id']}", json={"name": "排口（改名）"}, headers=field.headers("sup")
    )
    assert "uninspected_source" in reasons(gaps(field))[UNITS[3]]
