"""Open311 GeoReport v2: a complaint channel files form-encoded requests and reads status."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import get_settings
from tests.factories import CENTRES, UNITS, Field, hotspot_body, staffed_field


@pytest.fixture
def field(client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch) -> Field:
    monkeypatch.setattr(get_settings(), "open311_keys", "hotline-key, wechat-key")
    return staffed_field(client, db)


def complaint(**overrides: str) -> dict[str, str]:
    lon, lat = CENTRES[UNITS[0]]
    return {
        "api_key": "wechat-key",
        "service_code": "open_burning",
        "lat": str(lat),
        "long": str(lon),
        "description": "夜里有人烧垃圾，烟很大",
        "phone": "13800000000",
        **overrides,
    }


def test_services_list_categories(field: Field) -> None:
    services = field.client.get("/open311/v2/services.json").json()
    codes = {s["service_code"] for s in services}
    assert {"open_burning", "dust", "outfall"} <= codes
    assert all(s["metadata"] is False and s["type"] == "realtime" for s in services)


def test_client_posts_a_request_and_reads_its_status_back(field: Field) -> None:
    r = field.client.post("/open311/v2/requests.json", data=complaint())
    assert r.status_code == 201, r.text
    [ack] = r.json()
    request_id = ack["service_request_id"]

    [req] = field.client.get(f"/open311/v2/requests/{request_id}.json").json()
    assert req["status"] == "open" and req["service_code"] == "open_burning"
    assert "13800000000" not in str(req)  # the complainant's contact stays private

    # Inside gridwatch it is a complaint hotspot, missed by the grid (nobody reported it).
    h = field.client.get(f"/api/v1/hotspots/{request_id}", headers=field.headers("sup")).json()
    assert h["source"] == "complaint" and h["missed_by_grid"] is True
    assert h["created_by"] == "open311:2"

    field.client.post(
        f"/api/v1/hotspots/{request_id}/transitions",
        json={"to": "rejected", "note": "经核查不属实"},
        headers=field.headers("sup"),
    )
    [closed] = field.client.get(
        "/open311/v2/requests.json", params={"service_request_id": request_id}
    ).json()
    assert closed["status"] == "closed" and closed["status_notes"] == "经核查不属实"
    assert field.client.get("/open311/v2/requests.json", params={"status": "open"}).json() == []


@pytest.mark.parametrize(
    ("overrides", "status", "words"),
    [
        ({"api_key": ""}, 403, "api_key"),
        ({"api_key": "guess"}, 403, "api_key"),
        ({"service_code": "ufo"}, 400, "service_code"),
        ({"lat": "999"}, 400, "lat"),
        ({"long": "nan"}, 400, "long"),
        ({"lat": ""}, 400, "lat is required"),
    ],
)
def test_bad_requests_get_open311_errors(
    field: Field, overrides: dict[str, str], status: int, words: str
) -> None:
    r = field.client.post("/open311/v2/requests.json", data=complaint(**overrides))
    assert r.status_code == status
    [error] = r.json()
    assert error["code"] == status and words in error["description"]


def test_unknown_ids_and_bad_filters(field: Field) -> None:
    assert field.client.get("/open311/v2/requests/nope.json").status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    assert field.client.get(f"/open311/v2/requests/{missing}.json").status_code == 404
    assert (
        field.client.get("/open311/v2/requests.json", params={"start_date": "soon"}).status_code
        == 400
    )
    assert (
        field.client.get("/open311/v2/requests.json", params={"status": "maybe"}).status_code == 400
    )
    bad_body = field.client.post(
        "/open311/v2/requests.json",
        content=b"\x00\xff",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert 400 <= bad_body.status_code < 500


def test_open311_shows_only_its_own_requests_and_final_answers(field: Field) -> None:
    staff_made = field.client.post(
        "/api/v1/hotspots",
        headers=field.headers("sup"),
        json=hotspot_body(UNITS[0], description="内部线索", source="complaint"),
    ).json()
    assert field.client.get(f"/open311/v2/requests/{staff_made['id']}.json").status_code == 404
    [ack] = field.client.post("/open311/v2/requests.json", data=complaint()).json()
    rid = ack["service_request_id"]
    field.client.post(
        f"/api/v1/hotspots/{rid}/transitions",
        json={"to": "accepted", "note": "内部：先电话联系网格长"},
        headers=field.headers("sup"),
    )
    [req] = field.client.get(f"/open311/v2/requests/{rid}.json").json()
    assert req["status"] == "open" and req["status_notes"] is None
    assert [
        r["service_request_id"] for r in field.client.get("/open311/v2/requests.json").json()
    ] == [rid]
