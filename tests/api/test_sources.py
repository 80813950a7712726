"""The pollution-source ledger: who surveyed it signs for it; scope applies."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import CENTRES, UNITS, Field, report_body, staffed_field


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
        f"/api/v1/sources/{s['id']}",
        json={"lat": lat, "lon": lon, "inspection_interval_hours": 24},
        headers=field.headers("boss"),
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
