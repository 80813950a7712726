"""Vector tiles (decoded), bbox-limited map data, and cookie sign-in with CSRF."""

import math
from datetime import UTC, datetime, timedelta

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import (
    CENTRES,
    PASSWORD,
    UNITS,
    X0,
    Y0,
    Field,
    hotspot_body,
    report_body,
    staffed_field,
)


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    return staffed_field(client, db)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def decode(body: bytes) -> dict:
    return mapbox_vector_tile.decode(body) if body else {}


def test_leaf_tile_carries_each_cells_worst_reason(field: Field) -> None:
    field.client.post(
        "/api/v1/reports",
        headers=field.headers("insp"),
        json=report_body(
            UNITS[0], observed_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat()
        ),
    )
    z, x, y = tile_of(X0 + 0.01, Y0 + 0.01, 14)
    r = field.client.get(f"/tiles/cells/{z}/{x}/{y}.pbf", headers=field.headers("sup"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert "max-age" in r.headers["cache-control"]
    features = {
        f["properties"]["code"]: f["properties"] for f in decode(r.content)["cells"]["features"]
    }
    assert set(features) == set(UNITS)  # every cell, no truncation
    assert features[UNITS[0]]["status"] == "ok"
    assert features[UNITS[1]]["status"] == "never_patrolled"
    assert features[UNITS[2]]["reasons"] == "never_patrolled,unstaffed"


def test_low_zoom_tile_shows_parents_with_whole_counts(field: Field) -> None:
    z, x, y = tile_of(X0 + 0.01, Y0 + 0.01, 9)
    r = field.client.get(f"/tiles/cells/{z}/{x}/{y}.pbf", headers=field.headers("sup"))
    layer = decode(r.content)["parents"]
    [parent] = layer["features"]
    assert parent["properties"]["code"] == "410702001"
    assert parent["properties"]["leaf_cells"] == 4 and parent["properties"]["with_gaps"] == 4


@pytest.mark.parametrize("zoom", [9, 14])  # the parents layer, the unit cells
def test_a_tile_held_answers_304_until_what_it_shows_changes(field: Field, zoom: int) -> None:
    z, x, y = tile_of(X0 + 0.01, Y0 + 0.01, zoom)
    url, sup = f"/tiles/cells/{z}/{x}/{y}.pbf", field.headers("sup")
    first = field.client.get(url, headers=sup)
    tag = first.headers["etag"]
    again = field.client.get(url, headers=sup | {"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    assert field.client.get(url, headers=sup | {"If-None-Match": '"other"'}).status_code == 200
    # Another viewer's tile of the same place differs: its own tag.
    mine = field.client.get(url, headers=field.headers("insp"))
    assert mine.headers["etag"] != tag
    # A patrol moves the counts the tile shows: a new tile and tag.
    r = field.client.post(
        "/api/v1/reports", headers=field.headers("insp"), json=report_body(UNITS[0])
    )
    assert r.json()["counted"]
    moved = field.client.get(url, headers=sup | {"If-None-Match": tag})
    assert moved.status_code == 200 and moved.headers["etag"] != tag
    assert decode(moved.content) != decode(first.content)


def test_tiles_respect_scope_and_reject_impossible_tiles(field: Field) -> None:
    z, x, y = tile_of(X0 + 0.01, Y0 + 0.01, 14)
    mine = decode(
        field.client.get(f"/tiles/cells/{z}/{x}/{y}.pbf", headers=field.headers("insp")).content
    )
    assert {f["properties"]["code"] for f in mine["cells"]["features"]} == set(UNITS[:2])
    assert field.client.get(f"/tiles/cells/{z}/{x}/{y}.pbf").status_code == 401
    for bad in ("3/9/1", "25/0/0", "-1/0/0", "5/99999999999/1"):
        r = field.client.get(f"/tiles/cells/{bad}.pbf", headers=field.headers("sup"))
        assert 400 <= r.status_code < 500, bad


def test_bbox_limits_hotspots_sources_and_heat(field: Field) -> None:
    lon, lat = CENTRES[UNITS[0]]
    field.client.post(
        "/api/v1/hotspots",
        headers=field.headers("sup"),
        json=hotspot_body(UNITS[0], description="扬尘", source="inspection"),
    )
    field.client.post("/api/v1/reports", headers=field.headers("insp"), json=report_body(UNITS[0]))
    h = field.headers("sup")
    inside = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    outside = f"{lon + 0.1},{lat + 0.1},{lon + 0.2},{lat + 0.2}"
    assert (
        len(
            field.client.get("/api/v1/hotspots", params={"bbox": inside}, headers=h).json()[
                "hotspots"
            ]
        )
        == 1
    )
    assert (
        field.client.get("/api/v1/hotspots", params={"bbox": outside}, headers=h).json()["hotspots"]
        == []
    )
    heat = field.client.get("/api/v1/reports/heat", params={"bbox": inside}, headers=h).json()
    assert len(heat["points"]) == 1 and heat["points"][0][2] == 1.0
    for bad in ("1,2,3", "a,b,c,d", "10,10,0,0", "0,0,200,1"):
        assert (
            field.client.get("/api/v1/hotspots", params={"bbox": bad}, headers=h).status_code == 422
        )


def test_cell_card_lists_reasons_roster_and_hotspots(field: Field) -> None:
    card = field.client.get(f"/api/v1/cells/{UNITS[0]}/card", headers=field.headers("sup")).json()
    assert card["reasons"] == ["never_patrolled"]
    assert {(r["duty"], r["username"]) for r in card["roster"]} == {
        ("leader", "boss"),
        ("member", "insp"),
    }
    assert (
        field.client.get(
            f"/api/v1/cells/{UNITS[3]}/card", headers=field.headers("insp")
        ).status_code
        == 404  # out of scope answers as a missing code
    )


def test_cookie_sign_in_needs_csrf_for_writes(field: Field) -> None:
    c = field.client
    login = c.post(
        "/login",
        data={"username": "insp", "password": PASSWORD, "next": "/map"},
        follow_redirects=False,
    )
    assert login.status_code == 303 and login.headers["location"] == "/map"
    cookie = login.headers.get_list("set-cookie")
    assert any(
        "gw_session=" in h and "HttpOnly" in h and "samesite=lax" in h.lower() for h in cookie
    )
    assert c.get("/api/v1/cells").status_code == 200  # reads by cookie
    body = report_body(UNITS[0])
    assert c.post("/api/v1/reports", json=body).status_code == 403  # no CSRF proof
    csrf = c.cookies.get("gw_csrf")
    assert (
        c.post("/api/v1/reports", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    )
    assert c.post("/api/v1/reports", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201


def test_the_language_chosen_at_sign_in_is_the_next_pages(field: Field) -> None:
    c = field.client
    assert 'lang="en"' in c.get("/login", params={"next": "/map", "lang": "en"}).text
    login = c.post(
        "/login",
        data={"username": "insp", "password": PASSWORD, "next": "/map"},
        follow_redirects=False,
    )
    assert login.status_code == 303
    page = c.get("/map").text
    assert '<html lang="en">' in page and '"lang": "en"' in page  # the document and its map


def test_login_failures_and_open_redirects(field: Field) -> None:
    c = field.client
    bad = c.post("/login", data={"username": "insp", "password": "wrong-one"})
    assert bad.status_code == 401 and 'data-testid="login-error"' in bad.text
    evil = c.post(
        "/login",
        data={"username": "insp", "password": PASSWORD, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert evil.headers["location"] == "/map"
    page = c.get("/login")
    for hook in ("login-username", "login-password", "login-submit"):
        assert f'data-testid="{hook}"' in page.text


def test_world_tiles_do_not_wrap_across_the_antimeridian(field: Field) -> None:
    """The search box of a low-zoom tile covers that tile, not the rest of the world."""
    from sqlalchemy import text

    from app.domain.supervision.tiles import _ENVELOPE

    for z in (1, 2, 3):
        zz, x, y = tile_of(X0, Y0, z)
        box = field.db.scalar(_ENVELOPE, {"z": zz, "x": x, "y": y})
        inside = field.db.scalar(
            text("SELECT ST_Covers(ST_GeomFromEWKT(:b), ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
            {"b": box, "x": X0, "y": Y0},
        )
        assert inside, (z, box)


def test_leaves_shallower_than_the_zoom_level_stand_for_themselves(field: Field) -> None:
    # At zoom 12 the map shows the tree's fourth level; these unit cells are on the third.
    z, x, y = tile_of(X0 + 0.01, Y0 + 0.01, 12)
    layer = decode(
        field.client.get(f"/tiles/cells/{z}/{x}/{y}.pbf", headers=field.headers("sup")).content
    )["parents"]
    assert {f["properties"]["code"] for f in layer["features"]} == set(UNITS)


def test_inspectors_get_only_their_own_cells_at_every_zoom(field: Field) -> None:
    z, x, y = tile_of(X0 + 0.01, Y0 + 0.01, 9)
    tile = decode(
        field.client.get(f"/tiles/cells/{z}/{x}/{y}.pbf", headers=field.headers("insp")).content
    )
    assert "parents" not in tile
    assert {f["properties"]["code"] for f in tile["cells"]["features"]} == set(UNITS[:2])
    assert (
        "Cookie"
        in field.client.get(f"/tiles/cells/{z}/{x}/{y}.pbf", headers=field.headers("insp")).headers[
            "vary"
        ]
    )


def test_a_past_card_lists_the_hotspots_open_then(field: Field) -> None:
    field.client.post(
        "/api/v1/hotspots",
        headers=field.headers("sup"),
        json=hotspot_body(UNITS[0], description="新问题", source="inspection"),
    )
    now = field.client.get(f"/api/v1/cells/{UNITS[0]}/card", headers=field.headers("sup")).json()
    assert [h["description"] for h in now["hotspots"]] == ["新问题"]
    past = field.client.get(
        f"/api/v1/cells/{UNITS[0]}/card",
        headers=field.headers("sup"),
        params={"as_of": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
    )
    assert past.json()["hotspots"] == []


def test_sign_in_from_another_site_is_refused(field: Field) -> None:
    r = field.client.post(
        "/login",
        data={"username": "insp", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "gw_session" not in r.headers.get("set-cookie", "")
