"""The supervisors' map as a city supervisor uses it (issue 18), in headless Chromium on the
demo city: the city view's labels and legend, every layer at a past instant, a red cell's
card with its evidence and dossier, and the export menu for the chosen area and time."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from openpyxl import load_workbook
from playwright.sync_api import Page
from shapely.geometry import shape

from app import clock
from app.config import get_settings
from map_ui.i18n import SHARE_SCALE, STATUS_COLOURS
from tests.browser.conftest import Server, Watched
from tests.browser.test_map import big_cell, close_to, go_to, open_map, pixel, shown_as
from tests.browser.test_phone import token

pytestmark = pytest.mark.browser


def local_minute(at: datetime) -> str:
    """An instant as the map's time picker takes it: local time of the server's zone."""
    return at.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m-%dT%H:%M")


def choose_time(page: Page, value: str) -> None:
    """Set the map's instant and wait until the point layers and the tiles have followed."""
    before = page.evaluate("gridwatchMap.state.pointsLoaded")
    page.get_by_test_id("map-as-of").fill(value)
    page.wait_for_function(f"() => gridwatchMap.state.pointsLoaded > {before}")


def case_markers(page: Page) -> set[str]:
    return set(page.evaluate("gridwatchMap.hotspots.getLayers().map((m) => m.options.hotspotId)"))


def test_the_city_view_names_every_area_with_its_gap_cells_and_the_legend_has_every_swatch(
    watched: Watched, live_server: Server
) -> None:
    open_map(watched, live_server)
    page = watched.page
    page.wait_for_selector(".gw-area")
    zoom = page.evaluate("gridwatchMap.map.getZoom()")
    shown = page.evaluate(
        """() => [...document.querySelectorAll('.gw-area')].map((a) => ({
             code: a.dataset.code, gaps: +a.dataset.gaps, cells: +a.dataset.cells,
             text: a.textContent, visible: getComputedStyle(a).visibility === 'visible'}))"""
    )
    headers = token(live_server, "supervisor", "demo-supervisor-2026")
    bbox = page.evaluate("gridwatchMap.bbox()")
    expected = httpx.get(
        f"{live_server.url}/api/v1/gaps/rollup",
        params={"zoom": zoom, "bbox": bbox},
        headers=headers,
    ).json()["parents"]
    assert {(a["code"], a["with_gaps"], a["leaf_cells"]) for a in expected} == {
        (a["code"], a["gaps"], a["cells"]) for a in shown
    }
    gaps = httpx.get(f"{live_server.url}/api/v1/gaps", headers=headers).json()["cells"]
    assert sum(a["gaps"] for a in shown) == len(gaps)  # every gap cell counted once
    total = page.get_by_test_id("map-total")
    page.wait_for_function("() => document.querySelector('[data-testid=map-total]').dataset.gaps")
    assert total.get_attribute("data-gaps") == str(len(gaps))
    assert f"盲区 {len(gaps)} / {sum(a['cells'] for a in shown)} 格" in total.inner_text()
    for a in expected:
        label = next(s for s in shown if s["code"] == a["code"])
        assert (
            a["name"] in label["text"] and f"{a['with_gaps']} / {a['leaf_cells']}" in label["text"]
        )
    assert sum(s["visible"] for s in shown) >= len(shown) // 2  # crowded labels give way
    legend = page.get_by_test_id("map-legend")
    bands = legend.locator("[data-share-band]")
    assert bands.count() == len(SHARE_SCALE)
    for i, (_, colour) in enumerate(SHARE_SCALE):
        swatch = bands.nth(i).locator("i")
        assert swatch.evaluate("(i) => getComputedStyle(i).backgroundColor") == rgb(colour)
        assert swatch.bounding_box()["width"] >= 10  # type: ignore[index]
    for status, colour in STATUS_COLOURS.items():
        swatch = legend.locator(f"[data-status={status}] i")
        assert swatch.evaluate("(i) => getComputedStyle(i).backgroundColor") == rgb(colour)
    assert watched.errors == [] and watched.hosts == {live_server.host}


def rgb(colour: str) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_at_a_past_instant_the_problem_layer_shows_only_the_cases_open_then(
    watched: Watched, live_server: Server
) -> None:
    headers = token(live_server, "admin", "demo-admin-2026")
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as client:
        leaves = client.get("/api/v1/cells", params={"leaf": True, "limit": 5000}).json()
        code = next(c["code"] for c in leaves["cells"] if c["area_m2"] > 150_000)
        cell = client.get(f"/api/v1/cells/{code}").json()
    point = shape(cell["geometry"]).representative_point()
    spot = {"lat": point.y, "lon": point.x, "category": "dust", "source": "inspection"}
    start = clock.now()
    early = httpx.post(
        f"{live_server.url}/api/v1/hotspots",
        json={**spot, "description": "早先发现的扬尘"},
        headers=headers,
    ).json()["id"]
    with time_machine.travel(start + timedelta(hours=2), tick=True):
        late = httpx.post(
            f"{live_server.url}/api/v1/hotspots",
            json={**spot, "description": "后来发现的扬尘"},
            headers=headers,
        ).json()["id"]
        rejected = httpx.post(
            f"{live_server.url}/api/v1/hotspots/{early}/transitions",
            json={"to": "rejected", "note": "核实不属实"},
            headers=headers,
        )
        assert rejected.status_code == 200, rejected.text
        open_map(watched, live_server)
        page = watched.page
        page.wait_for_function("() => gridwatchMap.state.pointsLoaded > 0")
        now_shown = case_markers(page)
        assert late in now_shown and early not in now_shown

        choose_time(page, local_minute(start + timedelta(hours=1)))
        then_shown = case_markers(page)
        assert early in then_shown and late not in then_shown
        # The popup speaks the desk's words, for the case as it stood then.
        page.evaluate(
            """(id) => {
                 const m = gridwatchMap.hotspots.getLayers()
                   .find((l) => l.options.hotspotId === id);
                 gridwatchMap.hotspots.zoomToShowLayer(m, () => m.openPopup());
               }""",
            early,
        )
        card = page.get_by_test_id("hotspot-card")
        card.wait_for()
        assert card.locator("h3").inner_text() == "扬尘 · 待立案"
        assert card.locator("a").get_attribute("href") == f"/desk?case={early}"

        page.evaluate("gridwatchMap.map.closePopup()")
        choose_time(page, "")
        # The zoom and pan that showed the popup may still be settling the cluster layer:
        # wait for the markers of now, which a stale layer would never reach.
        page.wait_for_function(
            """([late, early]) => {
                 const ids = gridwatchMap.hotspots.getLayers().map((m) => m.options.hotspotId);
                 return ids.includes(late) && !ids.includes(early);
               }""",
            arg=[late, early],
        )
    assert watched.errors == []


def big_cell_of(server: Server, headers: dict[str, str], reason: str) -> dict:
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        return big_cell(client, reason)


def test_the_card_of_a_red_cell_links_its_evidence_and_a_dossier_that_downloads(
    watched: Watched, live_server: Server, tmp_path: Path
) -> None:
    headers = token(live_server, "admin", "demo-admin-2026")
    cell = big_cell_of(live_server, headers, "overdue_hotspot")
    point = shape(cell["geometry"]).representative_point()
    open_map(watched, live_server)
    page = watched.page
    x, y = go_to(page, point.y, point.x)
    assert close_to(pixel(page, x, y), shown_as(STATUS_COLOURS["overdue_hotspot"]))
    page.mouse.click(x, y)
    card = page.get_by_test_id("cell-card")
    card.wait_for()
    assert card.get_attribute("data-code") == cell["code"]
    assert page.get_by_test_id("cell-card-reports").count() == 1
    cases = card.locator("[data-testid=cell-card-cases] a")
    assert cases.count() >= 1
    assert all(
        href.startswith("/desk?case=")
        for href in cases.evaluate_all("(links) => links.map((a) => a.getAttribute('href'))")
    )
    assert "逾期" in card.inner_text()
    dossier = page.get_by_test_id("cell-card-dossier")
    with page.expect_download() as download:
        dossier.click()
    saved = tmp_path / "dossier.zip"
    download.value.save_as(saved)
    names = zipfile.ZipFile(saved).namelist()
    assert {"cell.json", "lapses.json", "reports.json", "hotspots.json"} <= set(names)
    cell_json = json.loads(zipfile.ZipFile(saved).read("cell.json"))
    assert cell_json["code"] == cell["code"]

    # The open card follows the chosen instant.
    earlier = clock.now() - timedelta(days=2)
    before = page.evaluate("gridwatchMap.state.cardsLoaded")
    choose_time(page, local_minute(earlier))
    page.wait_for_function(f"() => gridwatchMap.state.cardsLoaded > {before}")
    moved = datetime.fromisoformat(card.get_attribute("data-as-of") or "")
    assert abs(moved - earlier) < timedelta(minutes=1)
    # Choosing an area that does not hold the cell closes its card.
    elsewhere = next(
        code
        for code, _, _ in page.evaluate("gridwatchMap.cfg.districts")
        if not cell["code"].startswith(code)
    )
    page.get_by_test_id("map-district").select_option(elsewhere)
    card.wait_for(state="detached")
    assert watched.errors == []


def test_a_cell_with_no_gap_reads_normal(watched: Watched, live_server: Server) -> None:
    headers = token(live_server, "admin", "demo-admin-2026")
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as client:
        gaps = {c["code"] for c in client.get("/api/v1/gaps").json()["cells"]}
        leaves = client.get("/api/v1/cells", params={"leaf": True, "limit": 5000}).json()
        fine = next(c["code"] for c in leaves["cells"] if c["code"] not in gaps)
        detail = client.get(f"/api/v1/cells/{fine}").json()
    point = shape(detail["geometry"]).representative_point()
    open_map(watched, live_server)
    page = watched.page
    x, y = go_to(page, point.y, point.x, zoom=17)
    page.mouse.click(x, y)
    card = page.get_by_test_id("cell-card")
    card.wait_for()
    assert card.get_attribute("data-code") == fine
    assert card.locator(".reasons").inner_text().strip() == "正常"


def test_map_export_downloads_the_accountability_export_and_gap_list_of_the_chosen_area_and_time(
    watched: Watched, live_server: Server, tmp_path: Path
) -> None:
    open_map(watched, live_server)
    page = watched.page
    code, name, bounds = page.evaluate("gridwatchMap.cfg.districts")[1]
    zoom_before = page.evaluate("gridwatchMap.map.getZoom()")
    page.get_by_test_id("map-district").select_option(code)
    page.wait_for_function(f"() => gridwatchMap.map.getZoom() > {zoom_before}")
    centre = page.evaluate(
        "(() => { const c = gridwatchMap.map.getCenter(); return [c.lat, c.lng]; })()"
    )
    assert bounds[0][0] < centre[0] < bounds[1][0] and bounds[0][1] < centre[1] < bounds[1][1]
    at = clock.now() - timedelta(days=1)
    choose_time(page, local_minute(at))

    page.get_by_test_id("map-export").click()
    menu = page.get_by_test_id("map-export-menu")
    assert name in menu.inner_text() and local_minute(at).replace("T", " ") in menu.inner_text()
    with page.expect_download() as download:
        page.get_by_test_id("map-export-accountability").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".xlsx"
    book = load_workbook(saved)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][2] == "区县 District" and len(rows) > 1
    assert {r[2] for r in rows[1:]} == {name}  # only the chosen district's lapses
    about = dict(book["说明 About"].iter_rows(values_only=True))
    zone = ZoneInfo(get_settings().timezone)
    assert about["统计期间止 To"] == datetime.fromisoformat(local_minute(at))
    assert about["统计期间起 From"] == datetime.fromisoformat(local_minute(at - timedelta(days=30)))
    assert about["范围 Scope"] == f"{code} {name}" and about["生成人 Generated by"] == "supervisor"
    ends = [r[6] for r in rows[1:]]
    assert max(ends) <= about["统计期间止 To"]

    with page.expect_download() as download:
        page.get_by_test_id("map-export-gaps").click()
    gaps_file = tmp_path / download.value.suggested_filename
    download.value.save_as(gaps_file)
    gap_rows = list(load_workbook(gaps_file).worksheets[0].iter_rows(values_only=True))[1:]
    headers = token(live_server, "supervisor", "demo-supervisor-2026")
    expected = httpx.get(
        f"{live_server.url}/api/v1/gaps",
        params={"within": code, "as_of": at.astimezone(zone).strftime("%Y-%m-%dT%H:%M")},
        headers=headers,
    ).json()["cells"]
    assert [r[0] for r in gap_rows] == [c["code"] for c in expected] and gap_rows
    assert {r[2] for r in gap_rows} == {name}

    # The printout says what it shows, when, for whom, and who printed it.
    page.emulate_media(media="print")
    head = page.get_by_test_id("map-print-head")
    assert head.is_visible()
    text = head.inner_text()
    assert "覆盖地图" in text and name in text and local_minute(at).replace("T", " ") in text
    assert "supervisor" in text
    assert page.get_by_test_id("map-legend").is_visible()
    assert not page.locator(".gw-bar").is_visible()
    assert watched.errors == [] and watched.hosts == {live_server.host}


def test_the_map_links_the_pages_its_reader_may_open(watched: Watched, live_server: Server) -> None:
    open_map(watched, live_server)  # the supervisor: the desk and the rankings
    page = watched.page
    assert page.get_by_test_id("nav-stats").get_attribute("href") == "/stats"
    page.get_by_test_id("nav-desk").click()
    page.wait_for_url("**/desk")
    assert page.get_by_test_id("nav-stats").is_visible()
    page.get_by_test_id("nav-stats").click()
    page.get_by_test_id("stats-table").wait_for()
