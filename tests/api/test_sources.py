"""The pollution-source ledger: who surveyed it signs for it; scope applies; only the command
office and admins set its rules (interval, survey)."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.grid.cells import NewCell
from tests.factories import (
    CENTRES,
    UNITS,
    Field,
    make_cells,
    make_user,
    report_body,
    square,
    staffed_field,
)


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    return staffed_field(client, db)


def source_body(cell: str = UNITS[0], **overrides: object) -> dict[str, object]:
    lon, lat = CENTRES[cell]
    return {"type": "outfall", "name": "卫河排口3号", "lat": lat, "lon": lon, **overrides}


def test_inspector_surveys_a_source_in_their_cell(field: Field) -> None:
    r = field.client.post("/api/v1/sources", json=source_body(), headers=field.headers("insp"))
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["cell_code"] == UNITS[0] and s["surveyed_by"] == "insp"
    assert s["type_label"] == "排污口" and s["inspection_interval_hours"] == 72
    elsewhere = field.client.post(
        "/api/v1/sources", json=source_body(UNITS[3]), headers=field.headers("insp")
    )
    assert elsewhere.status_code == 403
    assert (
        field.client.post(
            "/api/v1/sources", json=source_body(), headers=field.headers("disc")
        ).status_code
        == 403
    )


def test_update_resigns_and_retire_hides_it(field: Field) -> None:
    s = field.client.post(
        "/api/v1/sources", json=source_body(), headers=field.headers("insp")
    ).json()
    lon, lat = CENTRES[UNITS[1]]
    moved = field.client.patch(
        f"/api/v1/sources/{s['id']}", json={"lat": lat, "lon": lon}, headers=field.headers("boss")
    )
    assert moved.status_code == 200
    assert moved.json()["cell_code"] == UNITS[1] and moved.json()["surveyed_by"] == "boss"
    assert (
        field.client.delete(f"/api/v1/sources/{s['id']}", headers=field.headers("insp")).status_code
        == 403
    )
    assert (
        field.client.delete(f"/api/v1/sources/{s['id']}", headers=field.headers("sup")).status_code
        == 204
    )
    listed = field.client.get("/api/v1/sources", headers=field.headers("sup")).json()
    assert listed["sources"] == []
    kept = field.client.get(
        "/api/v1/sources", params={"include_retired": True}, headers=field.headers("sup")
    ).json()
    assert kept["sources"][0]["retired_at"] is not None


def test_list_is_scoped_and_geojson(field: Field) -> None:
    field.client.post("/api/v1/sources", json=source_body(), headers=field.headers("sup"))
    field.client.post(
        "/api/v1/sources",
        json=source_body(UNITS[3], type="waste_dump"),
        headers=field.headers("sup"),
    )
    mine = field.client.get("/api/v1/sources", headers=field.headers("insp")).json()
    assert [s["cell_code"] for s in mine["sources"]] == [UNITS[0]]
    geo = field.client.get(
        "/api/v1/sources",
        params={"format": "geojson", "type": "waste_dump"},
        headers=field.headers("cmd"),
    ).json()
    assert geo["type"] == "FeatureCollection" and geo["total"] == 1
    assert geo["features"][0]["geometry"]["type"] == "Point"
    assert (
        field.client.get(
            "/api/v1/sources/99999999999999999999", headers=field.headers("sup")
        ).status_code
        == 422
    )
    assert field.client.get("/api/v1/sources/4242", headers=field.headers("sup")).status_code == 404


def test_reports_may_reference_a_source(field: Field) -> None:
    s = field.client.post("/api/v1/sources", json=source_body(), headers=field.headers("insp"))
    r = field.client.post(
        "/api/v1/reports", json=report_body(source_id=s.json()["id"]), headers=field.headers("insp")
    )
    assert r.status_code == 201


@pytest.mark.parametrize(
    "overrides",
    [
        {"type": "volcano"},
        {"name": ""},
        {"lat": 91},
        {"inspection_interval_hours": 0},
        {"name": "x" * 300},
    ],
)
def test_bad_sources_are_422(field: Field, overrides: dict[str, object]) -> None:
    r = field.client.post(
        "/api/v1/sources", json=source_body(**overrides), headers=field.headers("sup")
    )
    assert r.status_code == 422


# --- ledger rules (SPEC §7: "edit source ledger rules (interval, survey)") ------------------


def surveyed(field: Field) -> dict:
    r = field.client.post("/api/v1/sources", json=source_body(), headers=field.headers("insp"))
    assert r.status_code == 201, r.text
    return r.json()


def test_an_inspector_cannot_relax_their_own_source(field: Field) -> None:
    s = surveyed(field)
    relaxed = {"inspection_interval_hours": 8784, "surveyed_at": "2099-12-31T00:00:00+08:00"}
    r = field.client.patch(
        f"/api/v1/sources/{s['id']}", json=relaxed, headers=field.headers("insp")
    )
    assert r.status_code == 403
    assert r.json()["detail"].startswith("inspection_interval_hours, surveyed_at:")
    after = field.client.get(f"/api/v1/sources/{s['id']}", headers=field.headers("insp")).json()
    assert after == s


@pytest.mark.parametrize(
    ("user", "status"),
    [("insp", 403), ("boss", 403), ("sup", 403), ("disc", 403), ("cmd", 200), ("admin", 200)],
)
def test_only_command_and_admin_set_the_interval(field: Field, user: str, status: int) -> None:
    s = surveyed(field)
    r = field.client.patch(
        f"/api/v1/sources/{s['id']}",
        json={"inspection_interval_hours": 24},
        headers=field.headers(user),
    )
    assert r.status_code == status, r.text
    if status == 200:  # a new interval is no survey: the surveyor still signs for it
        assert r.json()["inspection_interval_hours"] == 24
        assert (r.json()["surveyed_by"], r.json()["surveyed_at"]) == (
            s["surveyed_by"],
            s["surveyed_at"],
        )


@pytest.mark.parametrize("field_name", ["inspection_interval_hours", "surveyed_at"])
def test_rules_given_at_creation_need_command_or_admin(field: Field, field_name: str) -> None:
    value = {
        "inspection_interval_hours": 8784,
        "surveyed_at": (datetime.now(UTC) - timedelta(days=30)).isoformat(),
    }[field_name]
    body = source_body(**{field_name: value})
    r = field.client.post("/api/v1/sources", json=body, headers=field.headers("insp"))
    assert r.status_code == 403 and r.json()["detail"].startswith(f"{field_name}:")
    assert field.client.get("/api/v1/sources", headers=field.headers("sup")).json()["total"] == 0
    r = field.client.post("/api/v1/sources", json=body, headers=field.headers("cmd"))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("user", ["cmd", "admin"])
def test_a_survey_is_never_dated_in_the_future(field: Field, user: str) -> None:
    s = surveyed(field)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = field.client.patch(
        f"/api/v1/sources/{s['id']}", json={"surveyed_at": future}, headers=field.headers(user)
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("surveyed_at:")
    r = field.client.post(
        "/api/v1/sources", json=source_body(surveyed_at=future), headers=field.headers(user)
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("surveyed_at:")
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    r = field.client.patch(
        f"/api/v1/sources/{s['id']}", json={"surveyed_at": past}, headers=field.headers(user)
    )
    assert r.status_code == 200 and r.json()["surveyed_by"] == user


def test_a_command_office_sets_rules_only_in_its_scope(field: Field) -> None:
    make_cells(
        field.db,
        NewCell("410703", "卫滨区", 2, None, square(114.2, 35.3, 0.02)),
        NewCell("410703001001001", "卫滨一号", 5, "410703", square(114.2, 35.3)),
    )
    make_user(field.db, "cmd_wb", "command", scope="410703")
    s = surveyed(field)
    r = field.client.patch(
        f"/api/v1/sources/{s['id']}",
        json={"inspection_interval_hours": 24},
        headers=field.headers("cmd_wb"),
    )
    assert r.status_code in (403, 404)
