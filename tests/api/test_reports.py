"""Report intake: cell resolution, every voiding flag (present and absent), counting,
idempotent re-sends, review, batch sync, hostile input."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.grid.cells import get_cell
from app.models import CellStatus, CellVisit, Report
from tests.factories import CENTRES, UNITS, X0, Y0, Field, report_body, staffed_field


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    return staffed_field(client, db)


def post(field: Field, body: dict[str, object], user: str = "insp") -> dict[str, object]:
    r = field.client.post("/api/v1/reports", json=body, headers=field.headers(user))
    assert r.status_code in (200, 201), r.text
    return r.json()


def visits(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(CellVisit)) or 0


def test_counted_patrol_resolves_the_cell_and_updates_the_summary(field: Field) -> None:
    body = report_body(UNITS[0])
    r = field.client.post("/api/v1/reports", json=body, headers=field.headers("insp"))

    assert r.status_code == 201
    out = r.json()
    assert out["cell_code"] == UNITS[0] and out["counted"] is True and out["flags"] == []
    assert set(out) >= {"id", "cell_code", "counted", "flags", "observed_at", "received_at"}
    status = field.db.scalar(
        select(CellStatus).where(CellStatus.cell_id == get_cell(field.db, UNITS[0]).id)
    )
    assert status is not None and status.last_patrol_at is not None
    assert (
        status.last_patrol_at.isoformat()
        == datetime.fromisoformat(str(body["observed_at"])).isoformat()
    )
    assert visits(field.db) == 1


def test_identical_resend_returns_the_stored_report_and_different_body_is_409(field: Field) -> None:
    body = report_body()
    first = field.client.post("/api/v1/reports", json=body, headers=field.headers("insp"))
    again = field.client.post("/api/v1/reports", json=body, headers=field.headers("insp"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()

    changed = field.client.post(
        "/api/v1/reports", json={**body, "description": "改了"}, headers=field.headers("insp")
    )
    assert changed.status_code == 409 and "different body" in changed.json()["detail"]
    assert field.db.scalar(select(func.count()).select_from(Report)) == 1
    assert visits(field.db) == 1


def test_same_id_from_another_reporter_is_409(field: Field) -> None:
    body = report_body()
    post(field, body)
    r = field.client.post("/api/v1/reports", json=body, headers=field.headers("other"))
    assert r.status_code == 409


NOW = datetime.now(UTC)
OUTSIDE = {"lat": Y0 - 0.05, "lon": X0 - 0.05}


@pytest.mark.parametrize(
    ("flag", "present", "absent"),
    [
        ("outside_cells", OUTSIDE, {}),
        (
            "not_on_duty",
            {"lat": CENTRES[UNITS[3]][1], "lon": CENTRES[UNITS[3]][0]},
            {"lat": CENTRES[UNITS[1]][1], "lon": CENTRES[UNITS[1]][0]},
        ),
        ("low_accuracy", {"accuracy_m": 100.5}, {"accuracy_m": 100}),
        (
            "future_time",
            {"observed_at": (NOW + timedelta(hours=1)).isoformat()},
            {"observed_at": (NOW + timedelta(minutes=2)).isoformat()},
        ),
        (
            "late_sync",
            {"observed_at": (NOW - timedelta(days=8)).isoformat()},
            {"observed_at": (NOW - timedelta(days=6)).isoformat()},
        ),
    ],
)
def test_flag_present_voids_and_absent_counts(
    field: Field, flag: str, present: dict[str, object], absent: dict[str, object]
) -> None:
    flagged = post(field, report_body(**present))
    assert flag in flagged["flags"] and flagged["counted"] is False  # type: ignore[operator]
    clean = post(field, report_body(**absent))
    assert clean["flags"] == [] and clean["counted"] is True


def test_impossible_speed_against_the_previous_counted_report(field: Field) -> None:
    t0 = NOW - timedelta(hours=1)
    post(field, report_body(UNITS[0], observed_at=t0.isoformat()))
    # ~0.9 km east in 10 s: 330 km/h.
    fast = post(field, report_body(UNITS[1], observed_at=(t0 + timedelta(seconds=10)).isoformat()))
    assert fast["flags"] == ["impossible_speed"] and fast["counted"] is False
    # The same distance in 10 minutes is a brisk 5.5 km/h.
    slow = post(field, report_body(UNITS[1], observed_at=(t0 + timedelta(minutes=10)).isoformat()))
    assert slow["flags"] == [] and slow["counted"] is True


def test_voided_report_never_counts_until_accepted(field: Field) -> None:
    flagged = post(field, report_body(accuracy_m=500))
    assert flagged["counted"] is False and visits(field.db) == 0

    denied = field.client.post(
        f"/api/v1/reports/{flagged['id']}/review",
        json={"decision": "accept"},
        headers=field.headers("insp"),
    )
    assert denied.status_code == 403

    accepted = field.client.post(
        f"/api/v1/reports/{flagged['id']}/review",
        json={"decision": "accept", "note": "信号差，已电话核实"},
        headers=field.headers("sup"),
    )
    assert accepted.status_code == 200
    assert accepted.json()["counted"] is True and accepted.json()["review_status"] == "accepted"
    assert accepted.json()["flags"] == ["low_accuracy"]  # the flag stays visible
    assert visits(field.db) == 1

    twice = field.client.post(
        f"/api/v1/reports/{flagged['id']}/review",
        json={"decision": "reject"},
        headers=field.headers("sup"),
    )
    assert twice.status_code == 409


def test_rejected_review_keeps_it_voided_and_clean_reports_cannot_be_reviewed(field: Field) -> None:
    flagged = post(field, report_body(accuracy_m=500))
    r = field.client.post(
        f"/api/v1/reports/{flagged['id']}/review",
        json={"decision": "reject", "note": "位置造假"},
        headers=field.headers("sup"),
    )
    assert r.status_code == 200 and r.json()["counted"] is False
    clean = post(field, report_body())
    r = field.client.post(
        f"/api/v1/reports/{clean['id']}/review",
        json={"decision": "accept"},
        headers=field.headers("sup"),
    )
    assert r.status_code == 409


def test_outside_report_cannot_be_accepted(field: Field) -> None:
    flagged = post(field, report_body(**OUTSIDE))
    r = field.client.post(
        f"/api/v1/reports/{flagged['id']}/review",
        json={"decision": "accept"},
        headers=field.headers("admin"),
    )
    assert r.status_code == 409 and "outside every cell" in r.json()["detail"]


def test_reporter_is_the_signed_in_user_and_roles_without_reports_are_refused(field: Field) -> None:
    out = post(field, report_body(reporter="boss", reporter_id=1))
    assert out["reporter"] == "insp"
    for role_user in ("cmd", "disc", "admin"):
        r = field.client.post(
            "/api/v1/reports", json=report_body(), headers=field.headers(role_user)
        )
        assert r.status_code == 403


def test_gcj02_positions_are_converted(field: Field) -> None:
    import numpy as np

    from app.domain.grid.crs import from_wgs84

    lon, lat = CENTRES[UNITS[0]]
    gcj = from_wgs84("gcj02")(np.array([[lon, lat]]))[0]
    out = post(field, report_body(lat=float(gcj[1]), lon=float(gcj[0]), crs="gcj02"))
    assert out["cell_code"] == UNITS[0]
    assert abs(out["lat"] - lat) < 1e-5 and abs(out["lon"] - lon) < 1e-5  # type: ignore[operator]


# --- batch ------------------------------------------------------------------------------


def test_batch_answers_per_item_and_a_resend_stores_nothing_twice(field: Field) -> None:
    good = [
        report_body(observed_at=(NOW - timedelta(minutes=30 - i)).isoformat()) for i in range(3)
    ]
    bad = {"id": "not-a-uuid", "lat": 999, "lon": "x", "kind": "patrol"}
    batch = [good[0], bad, good[1], good[2]]

    # The connection drops after the server stored the first half; the phone re-sends all.
    first = field.client.post(
        "/api/v1/reports/batch", json=batch[:2], headers=field.headers("insp")
    )
    assert [i["status"] for i in first.json()["results"]] == [201, 422]
    resend = field.client.post("/api/v1/reports/batch", json=batch, headers=field.headers("insp"))

    assert resend.status_code == 200
    results = resend.json()["results"]
    assert [i["status"] for i in results] == [200, 422, 201, 201]
    assert results[1]["id"] == "not-a-uuid" and results[1]["detail"]
    assert all(i["report"]["counted"] for i in results if i["status"] in (200, 201))
    assert field.db.scalar(select(func.count()).select_from(Report)) == 3
    assert visits(field.db) == 3

    third = field.client.post("/api/v1/reports/batch", json=batch, headers=field.headers("insp"))
    assert [i["status"] for i in third.json()["results"]] == [200, 422, 200, 200]
    assert field.db.scalar(select(func.count()).select_from(Report)) == 3


def test_batch_item_conflict_does_not_stop_the_others(field: Field) -> None:
    body = report_body()
    post(field, body)
    r = field.client.post(
        "/api/v1/reports/batch",
        json=[{**body, "kind": "issue"}, report_body()],
        headers=field.headers("insp"),
    )
    assert [i["status"] for i in r.json()["results"]] == [409, 201]


def test_batch_too_large_is_413(field: Field) -> None:
    r = field.client.post("/api/v1/reports/batch", json=[{}] * 501, headers=field.headers("insp"))
    assert r.status_code == 413


# --- hostile input ----------------------------------------------------------------------

HOSTILE = [
    {"lat": 999},
    {"lat": -999},
    {"lon": 181},
    {"lat": "NaN"},
    {"lon": "Infinity"},
    {"lat": "north"},
    {"id": "not-a-uuid"},
    {"id": 12345},
    {"kind": "party"},
    {"kind": None},
    {"observed_at": "yesterday"},
    {"observed_at": "2026-11-27T10:00:00"},  # no offset
    {"observed_at": "0001-01-01T00:00:00Z"},
    {"description": "x" * 100_001},
    {"category": "x" * 1000},
    {"category": "not-a-category"},
    {"accuracy_m": -5},
    {"accuracy_m": 1e308},
    {"source_id": 2**70},
    {"crs": "EPSG:4547"},
    {"crs": "gcj02", "lat": 90, "lon": 180},
    {"crs": "bd09", "lat": -90, "lon": -180},
]


@pytest.mark.parametrize("overrides", HOSTILE)
def test_hostile_values_get_422_never_5xx(field: Field, overrides: dict[str, object]) -> None:
    r = field.client.post(
        "/api/v1/reports", json=report_body(**overrides), headers=field.headers("insp")
    )
    assert r.status_code == 422, r.text
    assert "detail" in r.json()


@pytest.mark.parametrize("missing", ["id", "lat", "lon", "observed_at", "kind"])
def test_missing_fields_are_422(field: Field, missing: str) -> None:
    body = report_body()
    del body[missing]
    r = field.client.post("/api/v1/reports", json=body, headers=field.headers("insp"))
    assert r.status_code == 422


def test_raw_nan_and_garbage_bodies_are_4xx(field: Field) -> None:
    h = {**field.headers("insp"), "Content-Type": "application/json"}
    body = report_body()
    raw = (
        f'{{"id": "{body["id"]}", "lat": NaN, "lon": 113.9, "observed_at": '
        f'"{body["observed_at"]}", "kind": "patrol"}}'
    )
    assert field.client.post("/api/v1/reports", content=raw, headers=h).status_code == 422
    undecodable = field.client.post("/api/v1/reports", content=b"\xff\xfe{", headers=h)
    assert undecodable.status_code == 400 and "detail" in undecodable.json()
    assert field.client.post("/api/v1/reports", json=[1, 2], headers=h).status_code == 422
    assert field.client.post("/api/v1/reports/batch", json={"a": 1}, headers=h).status_code == 422
    far = report_body(observed_at="2099-12-31T23:59:59Z")
    r = field.client.post("/api/v1/reports", json=far, headers=h)
    assert r.status_code == 201 and "future_time" in r.json()["flags"]
    for absurd in ("9999-12-31T23:59:59-14:00", "2100-01-01T00:00:00Z"):
        r = field.client.post("/api/v1/reports", json=report_body(observed_at=absurd), headers=h)
        assert r.status_code == 422, absurd


def test_unknown_source_is_404(field: Field) -> None:
    r = field.client.post(
        "/api/v1/reports", json=report_body(source_id=999), headers=field.headers("insp")
    )
    assert r.status_code == 404


# --- reading ----------------------------------------------------------------------------


def test_reports_are_visible_to_reporter_and_scope_only(field: Field) -> None:
    mine = post(field, report_body(UNITS[0]))
    assert (
        field.client.get(f"/api/v1/reports/{mine['id']}", headers=field.headers("sup")).status_code
        == 200
    )
    assert (
        field.client.get(
            f"/api/v1/reports/{mine['id']}", headers=field.headers("other")
        ).status_code
        == 404
    )
    listed = field.client.get(
        "/api/v1/reports", params={"within": "410702"}, headers=field.headers("cmd")
    )
    assert [r["id"] for r in listed.json()["reports"]] == [mine["id"]]
    assert (
        field.client.get("/api/v1/reports", headers=field.headers("other")).json()["reports"] == []
    )


def test_unreviewed_queue_lists_flagged_reports(field: Field) -> None:
    flagged = post(field, report_body(accuracy_m=300))
    post(field, report_body())
    queue = field.client.get(
        "/api/v1/reports", params={"unreviewed": True}, headers=field.headers("sup")
    ).json()["reports"]
    assert [r["id"] for r in queue] == [flagged["id"]]


def test_nul_characters_are_refused_not_500(field: Field) -> None:
    r = field.client.post(
        "/api/v1/reports", json=report_body(description="a\u0000b"), headers=field.headers("insp")
    )
    assert r.status_code == 422 and "detail" in r.json()


def test_batch_item_with_a_nul_character_fails_alone(field: Field) -> None:
    r = field.client.post(
        "/api/v1/reports/batch",
        headers=field.headers("insp"),
        json=[report_body(description="x\u0000"), report_body()],
    )
    assert [i["status"] for i in r.json()["results"]] == [422, 201]


def test_batch_item_with_an_unknown_category_answers_readable_errors(field: Field) -> None:
    r = field.client.post(
        "/api/v1/reports/batch",
        headers=field.headers("insp"),
        json=[report_body(category="volcano")],
    )
    [item] = r.json()["results"]
    assert item["status"] == 422 and "unknown category" in str(item["detail"])
