"""The supervisors' coverage map in headless Chromium, on the demo city."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page
from shapely.geometry import shape

from map_ui.i18n import STATUS_COLOURS
from tests.browser.conftest import Server, Watched, sign_in

pytestmark = pytest.mark.browser
BACKGROUND = (221, 221, 221)  # .leaflet-container with no basemap
OPACITY = 0.75  # the cell layer's fillOpacity
XSS = "<img src=x onerror=alert(1)>"


def api(server: Server) -> httpx.Client:
    token = httpx.post(
        f"{server.url}/api/v1/auth/token", data={"username": "admin", "password": "demo-admin-2026"}
    ).json()
    return httpx.Client(
        base_url=server.url,
        timeout=30,
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )


def open_map(w: Watched, server: Server) -> None:
    sign_in(w.page, server, "/map", "supervisor", "demo-supervisor-2026")
    w.page.wait_for_selector("[data-testid=coverage-map]")
    w.page.wait_for_function("() => window.gridwatchMap && gridwatchMap.state.tilesLoaded > 0")


def go_to(page: Page, lat: float, lon: float, zoom: int = 16) -> tuple[float, float]:
    """Centre the map on a point with the cell layer alone, wait for its tiles, and return
    the point's position on the page."""
    before = page.evaluate("gridwatchMap.state.tilesLoaded")
    page.evaluate(
        """([lat, lon, zoom]) => {
             gridwatchMap.map.removeLayer(gridwatchMap.hotspots);
             gridwatchMap.map.setView([lat, lon], zoom, {animate: false});
           }""",
        [lat, lon, zoom],
    )
    page.wait_for_function(f"() => gridwatchMap.state.tilesLoaded > {before}")
    page.wait_for_timeout(300)
    return tuple(
        page.evaluate(
            """([lat, lon]) => {
             const p = gridwatchMap.map.latLngToContainerPoint([lat, lon]);
             const r = gridwatchMap.map.getContainer().getBoundingClientRect();
             return [p.x + r.left, p.y + r.top];
           }""",
            [lat, lon],
        )
    )  # type: ignore[return-value]


def pixel(page: Page, x: float, y: float) -> tuple[int, int, int]:
    shot = page.screenshot(clip={"x": x - 2, "y": y - 2, "width": 5, "height": 5})
    return Image.open(io.BytesIO(shot)).convert("RGB").getpixel((2, 2))  # type: ignore[return-value]


def shown_as(colour: str) -> tuple[int, int, int]:
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return tuple(
        round(OPACITY * c + (1 - OPACITY) * b) for c, b in zip(rgb, BACKGROUND, strict=True)
    )  # type: ignore[return-value]


def close_to(a: tuple[int, int, int], b: tuple[int, int, int], tolerance: int = 10) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def big_cell(client: httpx.Client, reason: str, without: str | None = None) -> dict:
    """A unit cell with this reason as its most severe one, large enough to aim at."""
    cells = client.get("/api/v1/gaps", params={"reason": reason}).json()["cells"]
    for c in cells:
        if without and without in c["reasons"]:
            continue
        detail = client.get(f"/api/v1/cells/{c['code']}").json()
        if detail["area_m2"] > 150_000:
            return detail
    raise AssertionError(f"the demo city has no large cell with {reason}")


def test_map_draws_cells_with_no_console_errors_and_only_local_requests(
    watched: Watched, live_server: Server
) -> None:
    open_map(watched, live_server)
    page = watched.page
    assert page.locator("[data-testid=coverage-map] canvas").count() > 0  # tiles drawn
    assert page.locator("[data-testid=map-legend] [data-status]").count() == len(STATUS_COLOURS)
    assert watched.errors == []
    assert watched.hosts == {live_server.host}


@pytest.mark.parametrize(
    ("reason", "without"), [("never_patrolled", "overdue_hotspot"), ("overdue_hotspot", None)]
)
def test_a_gap_cell_is_shown_in_its_legend_colour_and_its_popup_names_the_leader(
    watched: Watched, live_server: Server, reason: str, without: str | None
) -> None:
    with api(live_server) as client:
        cell = big_cell(client, reason, without)
    point = shape(cell["geometry"]).representative_point()
    open_map(watched, live_server)
    page = watched.page
    x, y = go_to(page, point.y, point.x)
    legend = page.locator(f"[data-testid=map-legend] [data-status={reason}]")
    assert legend.get_attribute("data-colour") == STATUS_COLOURS[reason]
    seen = pixel(page, x, y)
    assert close_to(seen, shown_as(STATUS_COLOURS[reason])), (seen, reason)

    page.mouse.click(x, y)
    card = page.get_by_test_id("cell-card")
    card.wait_for()
    assert cell["code"] in card.inner_text()
    leaders = [d["name"] for d in cell["roster"] if d["duty"] == "leader"]
    if leaders:
        assert leaders[0] in card.inner_text()
    assert watched.errors == []


def test_a_hostile_hotspot_description_shows_as_text(watched: Watched, live_server: Server) -> None:
    with api(live_server) as client:
        cell = big_cell(client, "unpatrolled", "open_hotspot")
        point = shape(cell["geometry"]).representative_point()
        created = client.post(
            "/api/v1/hotspots",
            json={
                "lat": point.y,
                "lon": point.x,
                "category": "dust",
                "description": XSS,
                "source": "inspection",
            },
        )
        assert created.status_code == 201, created.text
    open_map(watched, live_server)
    page = watched.page
    x, y = go_to(page, point.y, point.x, zoom=17)
    page.evaluate("gridwatchMap.map.addLayer(gridwatchMap.hotspots); gridwatchMap.refreshPoints()")
    page.wait_for_timeout(800)
    page.mouse.click(x, y)
    card = page.get_by_test_id("hotspot-card")
    card.wait_for()
    assert XSS in card.inner_text()
    assert page.locator(".leaflet-popup img").count() == 0
    # The cell's own card lists the same description, also as text.
    page.evaluate(
        "gridwatchMap.map.closePopup(); gridwatchMap.map.removeLayer(gridwatchMap.hotspots)"
    )
    page.mouse.click(x, y)
    page.get_by_test_id("cell-card").wait_for()
    assert XSS in page.get_by_test_id("cell-card").inner_text()
    assert watched.dialogs == []


def test_map_needs_sign_in_and_shows_an_inspector_only_their_cells(
    watched: Watched, live_server: Server
) -> None:
    page = watched.page
    page.goto(live_server.url + "/map")
    assert "/login" in page.url
    sign_in(page, live_server, "/map", "inspector", "demo-inspector-2026")
    page.wait_for_function("() => window.gridwatchMap && gridwatchMap.state.tilesLoaded > 0")
    jar = {c["name"]: c["value"] for c in page.context.cookies()}
    mine = httpx.get(f"{live_server.url}/api/v1/cells", cookies=jar).json()
    assert 1 <= mine["total"] <= 3
    assert watched.errors == []


def test_english_switch(watched: Watched, live_server: Server) -> None:
    open_map(watched, live_server)
    watched.page.goto(live_server.url + "/map?lang=en")
    watched.page.wait_for_selector("[data-testid=map-legend]")
    assert "Never patrolled" in watched.page.get_by_test_id("map-legend").inner_text()
    config = watched.page.evaluate("JSON.stringify(gridwatchMap.cfg.strings.legend)")
    assert json.loads(config) == "Legend"


def test_a_click_where_there_is_no_unit_cell_says_so_in_the_pages_language(
    watched: Watched, live_server: Server
) -> None:
    open_map(watched, live_server)
    page = watched.page
    page.evaluate("gridwatchMap.showCellAt(L.latLng(30.0, 100.0))")  # far from the demo city
    message = page.get_by_test_id("cell-not-found")
    message.wait_for()
    assert message.inner_text() == "此处没有您可查看的单元网格"
    assert all("404" in e for e in watched.errors)  # the browser logs the refused lookup


def test_the_english_maps_source_popup_names_the_type_in_english(
    watched: Watched, live_server: Server
) -> None:
    sign_in(watched.page, live_server, "/map?lang=en", "supervisor", "demo-supervisor-2026")
    page = watched.page
    page.wait_for_function("() => window.gridwatchMap && gridwatchMap.state.tilesLoaded > 0")
    labels = page.evaluate(
        """async () => {
             await gridwatchMap.loadSources("", () => false);
             return gridwatchMap.sources.getLayers().map((m) => {
               const card = m.getPopup().getContent()(m);
               return card.querySelector("div").textContent.split(" · ")[0];
             });
           }"""
    )
    assert len(labels) == 15 and "coal-fired boiler" in labels
    assert all(label.isascii() for label in labels), labels
