"""Open311 GeoReport v2: a complaint channel files form-encoded requests and reads status."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

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
    # Where the case stands, in public words; the working note stays inside.
    assert req["status"] == "open" and req["status_notes"] == "已立案，待派遣"
    assert "网格长" not in str(req)
    assert [
        r["service_request_id"] for r in field.client.get("/open311/v2/requests.json").json()
    ] == [rid]


# --- XML (GeoReport v2's default format) ------------------------------------------------


def xml_rows(response, root: str, item: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    top = ET.fromstring(response.content)
    assert top.tag == root
    assert all(child.tag == item for child in top)
    return [{field.tag: field.text or "" for field in child} for child in top]


def as_text(row: dict) -> dict[str, str]:
    """A JSON row as its XML reads: null empty, booleans lower-case, numbers as written."""

    def text(value: object) -> str:
        if value is None:
            return ""
        return str(value).lower() if isinstance(value, bool) else str(value)

    return {k: text(v) for k, v in row.items()}


def test_services_xml_matches_the_json(field: Field) -> None:
    as_json = field.client.get("/open311/v2/services.json").json()
    r = field.client.get("/open311/v2/services.xml")
    assert r.status_code == 200
    services = xml_rows(r, "services", "service")
    assert services == [as_text(s) for s in as_json]
    burning = next(s for s in services if s["service_code"] == "open_burning")
    assert burning["service_name"] == "露天焚烧" and burning["metadata"] == "false"
    assert "露天焚烧".encode() in r.content  # Chinese as UTF-8, not as character references


def test_a_complaint_posted_as_xml_follows_the_desk_until_closed(field: Field) -> None:
    r = field.client.post("/open311/v2/requests.xml", data=complaint())
    assert r.status_code == 201, r.text
    [ack] = xml_rows(r, "service_requests", "request")
    rid = ack["service_request_id"]
    assert set(ack) == {"service_request_id", "service_notice", "account_id"}
    case = field.client.get(f"/api/v1/hotspots/{rid}", headers=field.headers("sup")).json()
    assert case["source"] == "complaint" and case["status"] == "reported"

    def read_back() -> dict[str, str]:
        as_json = field.client.get(f"/open311/v2/requests/{rid}.json").json()
        r = field.client.get(f"/open311/v2/requests/{rid}.xml")
        assert r.status_code == 200
        [row] = xml_rows(r, "service_requests", "request")
        assert [row] == [as_text(j) for j in as_json]  # one mapping, two renderings
        listed = field.client.get("/open311/v2/requests.xml", params={"service_request_id": rid})
        assert xml_rows(listed, "service_requests", "request") == [row]
        return row

    first = read_back()
    assert first["status"] == "open" and first["status_notes"] == "已受理，待核实立案"
    assert first["description"] == "夜里有人烧垃圾，烟很大" and "13800000000" not in first.values()

    # The desk works the case: accept, dispatch, rectified, then closed (销号).
    deadline = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    steps = [
        ("boss", "reported", {"to": "accepted", "note": "内部：联系网格长"}),
        ("sup", "accepted", {"to": "dispatched", "assignee": "insp", "deadline": deadline}),
        ("insp", "dispatched", {"to": "rectifying"}),
        ("insp", "rectifying", {"to": "rectified", "note": "已清理焚烧点"}),
    ]
    for user, seen, body in steps:
        step = field.client.post(
            f"/api/v1/hotspots/{rid}/transitions",
            json={**body, "from": seen},
            headers=field.headers(user),
        )
        assert step.status_code == 200, step.text
    working = read_back()
    assert working["status"] == "open" and working["status_notes"] == "已整改，待核查"
    assert working["expected_datetime"]  # the deadline the desk set
    closed_step = field.client.post(
        f"/api/v1/hotspots/{rid}/transitions",
        json={"to": "closed", "note": "经核查已整改到位，予以销号", "from": "rectified"},
        headers=field.headers("cmd"),
    )
    assert closed_step.status_code == 200, closed_step.text
    closed = read_back()
    assert closed["status"] == "closed"
    assert closed["status_notes"] == "经核查已整改到位，予以销号"
    assert closed["updated_datetime"] >= working["updated_datetime"] > first["updated_datetime"]
    closed_at = datetime.fromisoformat(closed_step.json()["updated_at"])
    assert datetime.fromisoformat(closed["updated_datetime"]) == closed_at
    assert (
        xml_rows(
            field.client.get("/open311/v2/requests.xml", params={"status": "open"}),
            "service_requests",
            "request",
        )
        == []
    )


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "words"),
    [
        ("post", "/open311/v2/requests.xml", {"data": complaint(api_key="guess")}, 403, "api_key"),
        ("post", "/open311/v2/requests.xml", {"data": complaint(lat="")}, 400, "lat"),
        ("get", "/open311/v2/requests/nope.xml", {}, 404, "nope"),
        ("get", "/open311/v2/requests.xml", {"params": {"status": "maybe"}}, 400, "status"),
    ],
)
def test_xml_errors_are_georeport_errors(
    field: Field, method: str, path: str, kwargs: dict, status: int, words: str
) -> None:
    r = getattr(field.client, method)(path, **kwargs)
    assert r.status_code == status
    [error] = xml_rows(r, "errors", "error")
    assert error["code"] == str(status) and words in error["description"]


def test_xml_carries_text_xml_cannot_hold_as_well_as_it_can(field: Field) -> None:
    text = "烟\x01很大 <b>&amp;</b>"
    [ack] = field.client.post("/open311/v2/requests.json", data=complaint(description=text)).json()
    r = field.client.get(f"/open311/v2/requests/{ack['service_request_id']}.xml")
    [row] = xml_rows(r, "service_requests", "request")
    assert row["description"] == "烟很大 <b>&amp;</b>"


def test_xml_posts_over_the_limit_wait_with_an_xml_error(
    field: Field, monkeypatch: pytest.MonkeyPatch, fresh_minute: None
) -> None:
    monkeypatch.setattr(get_settings(), "open311_posts_per_minute", 1)
    assert field.client.post("/open311/v2/requests.xml", data=complaint()).status_code == 201
    r = field.client.post("/open311/v2/requests.xml", data=complaint())
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    [error] = xml_rows(r, "errors", "error")
    assert error["code"] == "429"
