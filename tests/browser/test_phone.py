"""The inspectors' phone app on an emulated Pixel 7 in headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright
from shapely.geometry import shape

from tests.browser.conftest import Server

pytestmark = pytest.mark.browser


def token(server: Server, username: str, password: str) -> dict[str, str]:
    r = httpx.post(
        f"{server.url}/api/v1/auth/token", data={"username": username, "password": password}
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def my_cell(live_server: Server) -> dict:
    headers = token(live_server, "inspector", "demo-inspector-2026")
    cells = httpx.get(
        f"{live_server.url}/api/v1/cells",
        headers=headers,
        params={"leaf": True, "format": "geojson"},
    ).json()["features"]
    feature = max(cells, key=lambda f: f["properties"]["area_m2"])
    point = shape(feature["geometry"]).representative_point()
    return {
        "code": feature["id"],
        "name": feature["properties"]["name"],
        "lat": point.y,
        "lon": point.x,
    }


@pytest.fixture(scope="module")
def pixel7(playwright: Playwright) -> dict:
    return dict(playwright.devices["Pixel 7"])


@pytest.fixture
def phone(browser: Browser, pixel7: dict, my_cell: dict) -> Iterator[BrowserContext]:
    context = browser.new_context(
        **pixel7,
        permissions=["geolocation"],
        geolocation={"latitude": my_cell["lat"], "longitude": my_cell["lon"], "accuracy": 8},
    )
    yield context
    context.close()


def open_app(context: BrowserContext, server: Server) -> Page:
    page = context.new_page()
    page.goto(server.url + "/m/")
    page.get_by_test_id("login-username").fill("inspector")
    page.get_by_test_id("login-password").fill("demo-inspector-2026")
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("patrol-here").wait_for()
    page.wait_for_function("() => document.getElementById('where').textContent.includes('±')")
    return page


def reports_in(server: Server, code: str) -> list[dict]:
    headers = token(server, "admin", "demo-admin-2026")
    return httpx.get(
        f"{server.url}/api/v1/reports", headers=headers, params={"within": code, "limit": 1000}
    ).json()["reports"]


def test_a_patrol_in_two_taps_is_counted_for_the_cell(
    phone: BrowserContext, live_server: Server, my_cell: dict
) -> None:
    page = open_app(phone, live_server)
    assert my_cell["name"] in page.locator("#where").inner_text()
    before = {r["id"] for r in reports_in(live_server, my_cell["code"])}
    page.get_by_test_id("patrol-here").tap()
    page.get_by_test_id("report-submit").tap()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=report-status]').classList.contains('counted')"
    )
    new = [r for r in reports_in(live_server, my_cell["code"]) if r["id"] not in before]
    assert len(new) == 1
    assert new[0]["counted"] and new[0]["cell_code"] == my_cell["code"]
    assert new[0]["reporter"] == "inspector" and new[0]["kind"] == "patrol"


def test_offline_reports_wait_and_are_sent_exactly_once(
    phone: BrowserContext, live_server: Server, my_cell: dict
) -> None:
    page = open_app(phone, live_server)
    before = {r["id"] for r in reports_in(live_server, my_cell["code"])}
    phone.set_offline(True)
    made_at = datetime.now(UTC)
    page.get_by_test_id("patrol-here").tap()
    page.get_by_test_id("report-description").fill("离线巡查")
    page.get_by_test_id("report-submit").tap()
    status = page.get_by_test_id("report-status")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=report-status]').classList.contains('queued')"
    )
    assert "离线" in status.inner_text()
    assert {r["id"] for r in reports_in(live_server, my_cell["code"])} == before
    page.wait_for_timeout(1500)
    phone.set_offline(False)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=report-status]').classList.contains('counted')",
        timeout=20_000,
    )
    page.wait_for_timeout(1000)
    new = [r for r in reports_in(live_server, my_cell["code"]) if r["id"] not in before]
    assert len(new) == 1 and new[0]["description"] == "离线巡查"
    observed = datetime.fromisoformat(new[0]["observed_at"])
    received = datetime.fromisoformat(new[0]["received_at"])
    assert abs((observed - made_at).total_seconds()) < 5  # the offline moment, not the send
    assert received > observed


def test_a_position_outside_my_cells_is_filed_and_flagged(
    browser: Browser, pixel7: dict, live_server: Server, my_cell: dict
) -> None:
    # 2 km east of my cell: still in the city, not in the inspector's cells.
    context = browser.new_context(
        **pixel7,
        permissions=["geolocation"],
        geolocation={"latitude": my_cell["lat"], "longitude": my_cell["lon"] + 0.02, "accuracy": 8},
    )
    try:
        page = open_app(context, live_server)
        page.get_by_test_id("patrol-here").tap()
        page.get_by_test_id("report-submit").tap()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=report-status]')"
            ".classList.contains('flagged')"
        )
        text = page.get_by_test_id("report-status").inner_text()
        assert "未计入" in text and ("非本人责任网格" in text or "不在网格内" in text)
    finally:
        context.close()


def test_the_form_fits_a_360_px_screen(
    browser: Browser, live_server: Server, my_cell: dict
) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 640},
        is_mobile=True,
        has_touch=True,
        permissions=["geolocation"],
        geolocation={"latitude": my_cell["lat"], "longitude": my_cell["lon"]},
    )
    try:
        page = open_app(context, live_server)
        page.get_by_test_id("patrol-here").tap()
        for hook in (
            "report-kind-patrol",
            "report-kind-issue",
            "report-description",
            "report-photo",
            "report-submit",
        ):
            box = page.get_by_test_id(hook).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, hook
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        context.close()


def test_a_tracked_patrol_counts_in_the_cells_walked(
    phone: BrowserContext, live_server: Server, my_cell: dict
) -> None:
    page = open_app(phone, live_server)
    page.get_by_test_id("patrol-track").tap()
    for step in range(1, 4):  # walk ~100 m north inside the cell, a point per second
        phone.set_geolocation(
            {"latitude": my_cell["lat"] + step * 0.0003, "longitude": my_cell["lon"], "accuracy": 6}
        )
        page.wait_for_timeout(1100)
    page.wait_for_function("() => document.getElementById('track').textContent.includes('(')")
    page.get_by_test_id("patrol-track").tap()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=report-status]')"
        ".textContent.includes('" + my_cell["code"] + "')",
        timeout=20_000,
    )
    assert "counted" in (page.get_by_test_id("report-status").get_attribute("class") or "")


def test_an_assigned_hotspot_is_reported_rectified_with_a_photo(
    browser: Browser, pixel7: dict, live_server: Server
) -> None:
    import io

    from PIL import Image

    mine = token(live_server, "inspector", "demo-inspector-2026")
    hotspots = httpx.get(
        f"{live_server.url}/api/v1/hotspots", headers=mine, params={"open": True}
    ).json()["hotspots"]
    target = next(
        h
        for h in hotspots
        if h["assignee"] == "inspector" and h["status"] in ("dispatched", "rectifying")
    )
    context = browser.new_context(
        **pixel7,
        permissions=["geolocation"],
        geolocation={"latitude": target["lat"], "longitude": target["lon"], "accuracy": 5},
    )
    try:
        page = open_app(context, live_server)
        page.get_by_test_id("hotspot-rectify").first.tap()
        buf = io.BytesIO()
        Image.new("RGB", (800, 600), (30, 120, 40)).save(buf, "JPEG")
        page.get_by_test_id("report-photo").set_input_files(
            files=[{"name": "fixed.jpg", "mimeType": "image/jpeg", "buffer": buf.getvalue()}]
        )
        page.get_by_test_id("report-submit").tap()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=report-status]')"
            ".textContent.includes('已报告整改完成')",
            timeout=20_000,
        )
    finally:
        context.close()
    after = httpx.get(f"{live_server.url}/api/v1/hotspots/{target['id']}", headers=mine).json()
    assert after["status"] == "rectified" and after["evidence_report_id"]
    evidence = httpx.get(
        f"{live_server.url}/api/v1/reports/{after['evidence_report_id']}", headers=mine
    ).json()
    assert len(evidence["photos"]) == 1 and evidence["kind"] == "issue"


def test_sign_out_leads_back_to_sign_in(phone: BrowserContext, live_server: Server) -> None:
    page = open_app(phone, live_server)
    page.get_by_test_id("sign-out").tap()
    page.get_by_test_id("login-username").wait_for()
    page.goto(live_server.url + "/m/")
    assert "/login" in page.url


def test_a_double_tap_files_one_report(
    phone: BrowserContext, live_server: Server, my_cell: dict
) -> None:
    page = open_app(phone, live_server)
    before = {r["id"] for r in reports_in(live_server, my_cell["code"])}
    page.get_by_test_id("patrol-here").tap()
    page.get_by_test_id("report-submit").dblclick()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=report-status]').classList.contains('counted')"
    )
    page.wait_for_timeout(1000)
    new = [r for r in reports_in(live_server, my_cell["code"]) if r["id"] not in before]
    assert len(new) == 1
