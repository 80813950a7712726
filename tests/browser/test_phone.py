"""The inspectors' phone app on an emulated Pixel 7 in headless Chromium."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from PIL.ExifTags import GPS, IFD, Base
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route
from pyproj import Geod
from shapely.geometry import shape

from app.config import get_settings
from app.db import make_engine, make_sessionmaker
from app.domain.grid.cells import get_cell
from app.domain.people.accounts import create_or_update_user
from app.domain.reports.photos import photo_path
from app.models import Duty
from tests.browser.conftest import Server
from tests.factories import dms, jpeg

pytestmark = pytest.mark.browser


_tokens: dict[tuple[str, str], dict[str, str]] = {}


def token(server: Server, username: str, password: str) -> dict[str, str]:
    """A bearer token, signed in once per server and user: the server allows only so many
    sign-ins a minute from one address, and the pages sign in too."""
    key = (server.url, username)
    if key not in _tokens:
        r = httpx.post(
            f"{server.url}/api/v1/auth/token", data={"username": username, "password": password}
        )
        _tokens[key] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return _tokens[key]


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


def open_app(
    context: BrowserContext,
    server: Server,
    username: str = "inspector",
    password: str = "demo-inspector-2026",
) -> Page:
    page = context.new_page()
    page.goto(server.url + "/m/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
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


# --- photos as taken, final verdicts, the outbox and history ---------------------------------

OUTBOX_COUNT = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("gridwatch");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    const all = db.transaction("outbox").objectStore("outbox").getAll();
    all.onsuccess = () => { resolve(all.result.length); db.close(); };
  };
})"""


@pytest.fixture
def photo_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(get_settings(), "photo_dir", tmp_path / "photos")
    return tmp_path / "photos"


def camera_photo(
    lat: float, lon: float, colour: tuple[int, int, int], size: tuple[int, int] = (4000, 3000)
) -> bytes:
    """A 12 MP JPEG as a phone's camera writes it: EXIF with the GPS position and the time."""
    img = Image.new("RGB", size, colour)
    exif = Image.Exif()
    exif[Base.Make] = "gridwatch-test"
    exif[IFD.GPSInfo] = {
        GPS.GPSLatitudeRef: "N",
        GPS.GPSLatitude: dms(lat),
        GPS.GPSLongitudeRef: "E",
        GPS.GPSLongitude: dms(lon),
    }
    exif[IFD.Exif] = {Base.DateTimeOriginal: datetime.now(UTC).strftime("%Y:%m:%d %H:%M:%S")}
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=90)
    return buf.getvalue()


def status_becomes(page: Page, kind: str) -> str:
    page.wait_for_function(
        "(kind) => document.querySelector('[data-testid=report-status]').classList.contains(kind)",
        arg=kind,
        timeout=20_000,
    )
    return page.get_by_test_id("report-status").inner_text()


def file_with_photo(page: Page, photo: bytes, kind: str = "patrol") -> None:
    page.get_by_test_id("patrol-here").tap()
    page.get_by_test_id(f"report-kind-{kind}").tap()
    page.get_by_test_id("report-photo").set_input_files(
        files=[{"name": "IMG_20260101_101010.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    page.get_by_test_id("report-submit").tap()


def test_a_photo_taken_17_km_away_is_kept_as_taken_and_the_report_does_not_count(
    phone: BrowserContext, live_server: Server, my_cell: dict, photo_store: Path
) -> None:
    far_lat = my_cell["lat"] + 0.153
    _, _, metres = Geod(ellps="WGS84").inv(my_cell["lon"], my_cell["lat"], my_cell["lon"], far_lat)
    assert 16_500 < metres < 17_500
    taken = camera_photo(far_lat, my_cell["lon"], (120, 90, 60))
    page = open_app(phone, live_server)
    before = {r["id"] for r in reports_in(live_server, my_cell["code"])}
    page.get_by_test_id("patrol-here").tap()
    page.get_by_test_id("report-kind-issue").tap()
    page.get_by_test_id("report-description").fill("河道漂浮垃圾")
    page.get_by_test_id("report-photo").set_input_files(
        files=[{"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": taken}]
    )
    page.get_by_test_id("report-submit").tap()
    text = status_becomes(page, "flagged")
    assert "未计入" in text and "照片拍摄地点与上报位置不符" in text, text

    [report] = [r for r in reports_in(live_server, my_cell["code"]) if r["id"] not in before]
    assert report["kind"] == "issue" and report["counted"] is False
    assert "exif_mismatch" in report["flags"] and len(report["photos"]) == 1
    sha = hashlib.sha256(taken).hexdigest()
    assert photo_path(sha, "jpg").read_bytes() == taken  # byte for byte, EXIF and all
    original_url = f"/api/v1/reports/{report['id']}/photos/{report['photos'][0]}"
    admin = token(live_server, "admin", "demo-admin-2026")
    assert httpx.get(live_server.url + original_url, headers=admin).content == taken

    # The history shows the verdict and the derived copy; the original is one tap away.
    item = page.locator(f"[data-testid=history-item][data-report-id='{report['id']}']")
    assert "照片拍摄地点与上报位置不符" in item.inner_text()
    assert item.locator("a").get_attribute("href") == original_url
    assert item.locator("img").get_attribute("src") == original_url + "/display"
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth === 1600",
        arg=item.locator("img").element_handle(),
    )


def test_the_same_photo_filed_twice_counts_only_the_first_time(
    phone: BrowserContext, live_server: Server, my_cell: dict, photo_store: Path
) -> None:
    shot = camera_photo(my_cell["lat"], my_cell["lon"], (12, 80, 160), size=(1200, 900))
    page = open_app(phone, live_server)
    file_with_photo(page, shot)
    assert status_becomes(page, "counted") == "已发送，已计入巡查"
    file_with_photo(page, shot)
    text = status_becomes(page, "flagged")
    assert "未计入" in text and "照片重复" in text, text

    items = page.get_by_test_id("history-item")
    assert items.count() == 2
    second, first = items.nth(0), items.nth(1)  # newest first
    assert "照片重复" in second.inner_text() and "flagged" in (second.get_attribute("class") or "")
    assert "已计入" in first.inner_text() and "counted" in (first.get_attribute("class") or "")
    admin = token(live_server, "admin", "demo-admin-2026")
    stored = [
        httpx.get(
            f"{live_server.url}/api/v1/reports/{item.get_attribute('data-report-id')}",
            headers=admin,
        ).json()
        for item in (first, second)
    ]
    assert stored[0]["counted"] is True and stored[0]["flags"] == []
    assert stored[1]["counted"] is False and stored[1]["flags"] == ["duplicate_photo"]


def test_a_photo_over_20_mb_is_refused_on_the_phone_before_it_is_queued(
    phone: BrowserContext, live_server: Server, my_cell: dict, tmp_path: Path
) -> None:
    big = tmp_path / "IMG_big.jpg"
    data = jpeg(size=(640, 480))
    big.write_bytes(data + b"\0" * (21 * 1024 * 1024 - len(data)))
    page = open_app(phone, live_server)
    before = {r["id"] for r in reports_in(live_server, my_cell["code"])}
    page.get_by_test_id("patrol-here").tap()
    page.get_by_test_id("report-photo").set_input_files(big)
    page.get_by_test_id("report-submit").tap()
    text = status_becomes(page, "flagged")
    assert "照片 21 MB，超过 20 MB 上限" in text and "未保存" in text, text
    assert page.get_by_test_id("report-submit").is_visible()  # still on the form
    page.wait_for_timeout(1000)
    assert page.evaluate(OUTBOX_COUNT) == 0
    assert page.get_by_test_id("outbox-item").count() == 0
    assert {r["id"] for r in reports_in(live_server, my_cell["code"])} == before

    # The server refuses the same bytes on its own too.
    mine = token(live_server, "inspector", "demo-inspector-2026")
    body = {
        "id": str(uuid.uuid4()),
        "lat": my_cell["lat"],
        "lon": my_cell["lon"],
        "accuracy_m": 8,
        "observed_at": datetime.now(UTC).isoformat(),
        "kind": "patrol",
    }
    assert (
        httpx.post(f"{live_server.url}/api/v1/reports", json=body, headers=mine).status_code == 201
    )
    r = httpx.post(
        f"{live_server.url}/api/v1/reports/{body['id']}/photos",
        files={"file": ("IMG_big.jpg", big.read_bytes(), "image/jpeg")},
        headers=mine,
        timeout=60,
    )
    assert r.status_code == 413


def test_offline_reports_show_in_the_outbox_at_once_and_each_verdict_after_sync(
    phone: BrowserContext, live_server: Server, my_cell: dict
) -> None:
    page = open_app(phone, live_server)
    count = "(hook) => document.querySelectorAll(`[data-testid=${hook}]`).length"
    phone.set_offline(True)
    page.get_by_test_id("patrol-here").tap()
    page.get_by_test_id("report-submit").tap()
    page.wait_for_function(count + " === 1", arg="outbox-item", timeout=5_000)
    assert "待发送" in page.get_by_test_id("outbox-item").inner_text()

    # 2 km east, outside the inspector's cells, a problem with a category.
    phone.set_geolocation(
        {"latitude": my_cell["lat"], "longitude": my_cell["lon"] + 0.02, "accuracy": 8}
    )
    page.wait_for_function(
        "(name) => !document.getElementById('where').textContent.includes(name)",
        arg=my_cell["name"],
    )
    page.get_by_test_id("patrol-here").tap()
    page.get_by_test_id("report-kind-issue").tap()
    page.locator("#category").select_option(index=1)
    page.get_by_test_id("report-description").fill("离线发现的问题")
    page.get_by_test_id("report-submit").tap()
    page.wait_for_function(count + " === 2", arg="outbox-item", timeout=5_000)
    assert page.get_by_test_id("history-item").count() == 0

    phone.set_offline(False)
    page.wait_for_function(count + " === 2", arg="history-item", timeout=20_000)
    page.wait_for_function(count + " === 0", arg="outbox-item", timeout=5_000)
    issue, patrol = (page.get_by_test_id("history-item").nth(i) for i in range(2))
    assert "发现问题" in issue.inner_text() and "未计入" in issue.inner_text()
    assert "非本人责任网格" in issue.inner_text() or "不在网格内" in issue.inner_text()
    assert "例行巡查" in patrol.inner_text() and "已发送，已计入巡查" in patrol.inner_text()
    admin = token(live_server, "admin", "demo-admin-2026")
    for item, counted in ((issue, False), (patrol, True)):
        report_id = item.get_attribute("data-report-id")
        got = httpx.get(f"{live_server.url}/api/v1/reports/{report_id}", headers=admin).json()
        assert got["counted"] is counted

    # The next report starts afresh: no category carried over.
    page.get_by_test_id("patrol-here").tap()
    assert page.locator("#category").input_value() == ""
    assert page.get_by_test_id("report-description").input_value() == ""


def test_a_never_patrolled_cell_says_so_once_and_is_fresh_after_a_patrol(
    browser: Browser, pixel7: dict, live_server: Server, database_url: str
) -> None:
    admin = token(live_server, "admin", "demo-admin-2026")
    never = httpx.get(
        f"{live_server.url}/api/v1/gaps",
        headers=admin,
        params={"reason": "never_patrolled", "coverage": False},
    ).json()["cells"]
    code = never[0]["code"]
    detail = httpx.get(f"{live_server.url}/api/v1/cells/{code}", headers=admin).json()
    point = shape(detail["geometry"]).representative_point()
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session, session.begin():
        person, _ = create_or_update_user(
            session,
            username="patroller-zhou",
            role="inspector",
            password="a-new-patroller-pw",
            name="巡查员周新",
            phone="13900000001",
        )
        duty = Duty(
            cell_id=get_cell(session, code).id,
            person_id=person.id,
            duty="patroller",
            valid_from=datetime.now(UTC) - timedelta(days=1),
        )
        session.add(duty)
    context = browser.new_context(
        **pixel7,
        permissions=["geolocation"],
        geolocation={"latitude": point.y, "longitude": point.x, "accuracy": 8},
    )
    try:
        page = open_app(context, live_server, "patroller-zhou", "a-new-patroller-pw")
        assert page.get_by_test_id("person-name").inner_text() == "巡查员周新"
        row = page.locator(f"[data-testid=my-cell][data-cell-code='{code}']")
        row.wait_for()
        assert row.inner_text().count("从未巡查") == 1, row.inner_text()
        page.get_by_test_id("patrol-here").tap()
        page.get_by_test_id("report-submit").tap()
        status_becomes(page, "counted")
        page.wait_for_function(
            "(code) => { const row = document.querySelector("
            "`[data-testid=my-cell][data-cell-code='${code}']`);"
            " return row && row.textContent.includes('1 小时内已巡查')"
            " && !row.textContent.includes('从未巡查'); }",
            arg=code,
            timeout=10_000,
        )
    finally:
        context.close()
        with make_sessionmaker(engine)() as session, session.begin():
            ended = session.get(Duty, duty.id)
            assert ended is not None
            ended.valid_to = datetime.now(UTC)
        engine.dispose()


def test_the_phone_after_filing_reads_well_at_360_px(
    browser: Browser, live_server: Server, my_cell: dict, photo_store: Path
) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 640},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        permissions=["geolocation"],
        geolocation={"latitude": my_cell["lat"], "longitude": my_cell["lon"], "accuracy": 8},
    )
    try:
        page = open_app(context, live_server)
        page.get_by_test_id("patrol-here").tap()
        page.get_by_test_id("report-kind-issue").tap()
        page.locator("#category").select_option(index=2)
        page.get_by_test_id("report-description").fill("工地裸土未苫盖，扬尘明显")
        page.get_by_test_id("report-photo").set_input_files(
            files=[
                {
                    "name": "IMG_0360.jpg",
                    "mimeType": "image/jpeg",
                    "buffer": camera_photo(my_cell["lat"], my_cell["lon"], (150, 120, 70)),
                }
            ]
        )
        page.get_by_test_id("report-submit").tap()
        status_becomes(page, "counted")
        item = page.get_by_test_id("history-item").first
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0",
            arg=item.locator("img").element_handle(),
        )
        page.screenshot(path="/tmp/gridwatch-phone-360.png")
        page.screenshot(path="/tmp/gridwatch-phone-360-full.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        box = item.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
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
        row = page.locator(f"[data-testid=my-hotspot][data-case-id='{target['id']}']")
        row.get_by_test_id("hotspot-rectify").tap()
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
    # A visit with a photo, not a new problem: it opens no case of its own.
    assert len(evidence["photos"]) == 1 and evidence["kind"] == "patrol"


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


# --- signed out elsewhere, and a "rectified" step interrupted -------------------------------


def outbox_count(page: Page) -> int:
    return int(page.evaluate(OUTBOX_COUNT))


def test_reports_saved_while_signed_out_wait_for_a_new_sign_in(
    phone: BrowserContext, live_server: Server, my_cell: dict
) -> None:
    page = open_app(phone, live_server)
    before = {r["id"] for r in reports_in(live_server, my_cell["code"])}
    phone.set_offline(True)
    page.get_by_test_id("patrol-here").tap()
    page.get_by_test_id("report-description").fill("登录失效时的巡查")
    page.get_by_test_id("report-submit").tap()
    status_becomes(page, "queued")
    phone.clear_cookies()  # the session ended meanwhile (signed out on another device)
    phone.set_offline(False)

    # Not "no network" for ever: the phone says why nothing leaves and how to go on.
    page.get_by_test_id("sign-in-again").wait_for(timeout=20_000)
    assert "重新登录" in page.get_by_test_id("report-status").inner_text()
    assert outbox_count(page) == 1
    assert {r["id"] for r in reports_in(live_server, my_cell["code"])} == before

    page.get_by_test_id("sign-in-again").tap()
    page.get_by_test_id("login-username").fill("inspector")
    page.get_by_test_id("login-password").fill("demo-inspector-2026")
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("patrol-here").wait_for()
    for _ in range(80):
        if outbox_count(page) == 0:
            break
        page.wait_for_timeout(250)
    assert outbox_count(page) == 0
    new = [r for r in reports_in(live_server, my_cell["code"]) if r["id"] not in before]
    assert [r["description"] for r in new] == ["登录失效时的巡查"]


def test_a_rectified_step_cut_off_halfway_is_finished_after_a_reload(
    phone: BrowserContext, live_server: Server, my_cell: dict, photo_store: Path
) -> None:
    # A case in the inspector's cell, dispatched to the inspector.
    mine = token(live_server, "inspector", "demo-inspector-2026")
    command = token(live_server, "command", "demo-command-2026")
    found = httpx.post(
        f"{live_server.url}/api/v1/reports",
        headers=mine,
        json={
            "id": str(uuid.uuid4()),
            "lat": my_cell["lat"],
            "lon": my_cell["lon"],
            "accuracy_m": 5,
            "observed_at": datetime.now(UTC).isoformat(),
            "kind": "issue",
            "category": "dust",
            "description": "整改一半断网的问题",
        },
    )
    assert found.status_code == 201, found.text
    cases = httpx.get(
        f"{live_server.url}/api/v1/hotspots",
        headers=command,
        params={"status": "reported", "limit": 500},
    ).json()["hotspots"]
    case = next(h for h in cases if h["description"] == "整改一半断网的问题")
    steps = f"{live_server.url}/api/v1/hotspots/{case['id']}/transitions"
    deadline = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    for step in (
        {"to": "accepted"},
        {"to": "dispatched", "assignee": "inspector", "deadline": deadline},
    ):
        r = httpx.post(steps, headers=command, json=step)
        assert r.status_code == 200, r.text

    page = open_app(phone, live_server)
    cut = {"done": False}

    def second_step_fails_once(route: Route) -> None:
        if not cut["done"] and '"rectified"' in (route.request.post_data or ""):
            cut["done"] = True
            route.abort()  # the signal goes between the two steps
        else:
            route.continue_()

    page.route("**/transitions", second_step_fails_once)
    row = page.locator(f"[data-testid=my-hotspot][data-case-id='{case['id']}']")
    row.get_by_test_id("hotspot-rectify").tap()
    page.get_by_test_id("report-photo").set_input_files(
        files=[
            {
                "name": "IMG_0421.jpg",
                "mimeType": "image/jpeg",
                "buffer": camera_photo(my_cell["lat"], my_cell["lon"], (40, 90, 160), (1600, 1200)),
            }
        ]
    )
    page.get_by_test_id("report-submit").tap()
    for _ in range(80):
        if cut["done"]:
            break
        page.wait_for_timeout(250)
    assert cut["done"]
    status_becomes(page, "queued")
    halfway = httpx.get(f"{live_server.url}/api/v1/hotspots/{case['id']}", headers=mine).json()
    assert halfway["status"] == "rectifying"

    page.unroute("**/transitions")
    page.reload()  # the phone was closed and opened again
    for _ in range(80):
        after = httpx.get(f"{live_server.url}/api/v1/hotspots/{case['id']}", headers=mine).json()
        if after["status"] != "rectifying":
            break
        page.wait_for_timeout(250)
    assert after["status"] == "rectified" and after["evidence_report_id"]
    for _ in range(40):  # the step leaves the outbox once its answer is back on the phone
        if outbox_count(page) == 0:
            break
        page.wait_for_timeout(250)
    assert outbox_count(page) == 0
