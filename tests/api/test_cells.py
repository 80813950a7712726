from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import X0, Y0, give_duty, make_user, sign_in, two_by_two

UNITS = ["410702001001001", "410702001001002", "410702001001003", "410702001001004"]


def codes(r: object) -> list[str]:
    return [c["code"] for c in r.json()["cells"]]  # type: ignore[attr-defined]


def test_admin_lists_the_subtree_in_json_and_geojson(client: TestClient, db: Session) -> None:
    two_by_two(db)
    make_user(db, "admin", "admin")
    h = sign_in(client, "admin")

    r = client.get("/api/v1/cells", params={"within": "410702001"}, headers=h)
    assert r.status_code == 200
    assert codes(r) == ["410702001", *UNITS]
    assert r.json()["cells"][1]["parent_code"] == "410702001"

    g = client.get(
        "/api/v1/cells",
        params={"within": "410702001", "leaf": True, "format": "geojson"},
        headers=h,
    )
    body = g.json()
    assert body["type"] == "FeatureCollection" and body["total"] == 4
    assert body["features"][0]["geometry"]["type"] == "MultiPolygon"
    assert body["features"][0]["properties"]["risk"] == "medium"


def test_paging_says_what_is_left(client: TestClient, db: Session) -> None:
    two_by_two(db)
    make_user(db, "admin", "admin")
    h = sign_in(client, "admin")
    first = client.get("/api/v1/cells", params={"limit": 4}, headers=h).json()
    assert first["total"] == 6 and first["next_offset"] == 4 and len(first["cells"]) == 4
    rest = client.get("/api/v1/cells", params={"limit": 4, "offset": 4}, headers=h).json()
    assert rest["next_offset"] is None and len(rest["cells"]) == 2


def test_inspector_sees_only_cells_with_a_current_duty(client: TestClient, db: Session) -> None:
    two_by_two(db)
    inspector = make_user(db, "insp", "inspector")
    give_duty(db, inspector, UNITS[0])
    give_duty(db, inspector, UNITS[1], valid_to=datetime(2026, 1, 1, tzinfo=UTC))  # ended
    h = sign_in(client, "insp")

    assert codes(client.get("/api/v1/cells", headers=h)) == [UNITS[0]]
    assert client.get(f"/api/v1/cells/{UNITS[0]}", headers=h).status_code == 200
    assert client.get(f"/api/v1/cells/{UNITS[1]}", headers=h).status_code == 404


def test_a_cell_out_of_scope_answers_exactly_as_a_missing_code(
    client: TestClient, db: Session
) -> None:
    """403 for an existing code and 404 for a made-up one would tell which codes exist."""
    two_by_two(db)
    inspector = make_user(db, "insp", "inspector")
    give_duty(db, inspector, UNITS[0])
    h = sign_in(client, "insp")
    for suffix in ("", "/card", "/coverage"):
        hidden = client.get(f"/api/v1/cells/{UNITS[1]}{suffix}", headers=h)
        missing = client.get(f"/api/v1/cells/410702001009999{suffix}", headers=h)
        assert hidden.status_code == missing.status_code == 404, suffix
        assert hidden.json()["detail"].replace(UNITS[1], "X") == missing.json()["detail"].replace(
            "410702001009999", "X"
        )


def test_scoped_command_sees_its_subtree_only(client: TestClient, db: Session) -> None:
    two_by_two(db)
    make_user(db, "cmd", "command", scope="410702001")
    h = sign_in(client, "cmd")
    assert codes(client.get("/api/v1/cells", headers=h)) == ["410702001", *UNITS]
    assert client.get("/api/v1/cells/410702", headers=h).status_code == 404


def test_cell_detail_carries_the_current_roster(client: TestClient, db: Session) -> None:
    two_by_two(db)
    make_user(db, "sup", "supervisor")
    leader = make_user(db, "wang", "leader")
    former = make_user(db, "zhao", "inspector")
    give_duty(db, leader, UNITS[0], "leader")
    give_duty(db, former, UNITS[0], "member", valid_to=datetime(2025, 1, 1, tzinfo=UTC))
    h = sign_in(client, "sup")

    r = client.get(f"/api/v1/cells/{UNITS[0]}", headers=h)

    assert r.status_code == 200
    body = r.json()
    assert body["parent_code"] == "410702001" and body["is_leaf"] is True
    assert [(d["duty"], d["username"], d["name"]) for d in body["roster"]] == [
        ("leader", "wang", "wang名")
    ]
    assert body["geometry"]["type"] == "MultiPolygon"


def test_unknown_cell_is_404_with_its_code(client: TestClient, db: Session) -> None:
    make_user(db, "admin", "admin")
    h = sign_in(client, "admin")
    r = client.get("/api/v1/cells/nope", headers=h)
    assert r.status_code == 404 and r.json() == {"detail": "no cell with code 'nope'"}
    assert client.get("/api/v1/cells", params={"within": "nope"}, headers=h).status_code == 404


def test_locate_resolves_a_point_on_a_shared_edge_to_one_cell(
    client: TestClient, db: Session
) -> None:
    two_by_two(db)
    make_user(db, "sup", "supervisor")
    h = sign_in(client, "sup")
    r = client.get("/api/v1/cells/locate", params={"lon": X0 + 0.01, "lat": Y0 + 0.015}, headers=h)
    assert r.status_code == 200 and r.json()["code"] == UNITS[0]
    outside = client.get("/api/v1/cells/locate", params={"lon": 0, "lat": 0}, headers=h)
    assert outside.status_code == 404
    bad = client.get("/api/v1/cells/locate", params={"lon": 500, "lat": 0}, headers=h)
    assert bad.status_code == 422


def test_defects_endpoint_returns_geojson_for_supervisors_only(
    client: TestClient, db: Session
) -> None:
    two_by_two(db)
    make_user(db, "sup", "supervisor")
    make_user(db, "insp", "inspector")
    r = client.get(
        "/api/v1/grid/defects", params={"within": "410702"}, headers=sign_in(client, "sup")
    )
    assert r.status_code == 200
    assert r.json() == {"type": "FeatureCollection", "features": []}
    denied = client.get("/api/v1/grid/defects", headers=sign_in(client, "insp"))
    assert denied.status_code == 403


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/api/v1/cells",
        "/api/v1/cells/{code}",
        "/api/v1/grid/defects",
        "/api/v1/auth/token",
        "/healthz",
    } <= set(paths)


def test_docs_use_only_local_assets(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text
    js = client.get("/static/vendor/swagger-ui-dist/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert client.get("/", follow_redirects=False).headers["location"] == "/map"
