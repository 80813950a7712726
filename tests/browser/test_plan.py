"""The phone's plan of the day (今日待巡) at 360×640 in headless Chromium: the stops in the
server's walking order with countdowns and a map, and — offline, after a reload — the same
plan from the last copy, marked with its age."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from app import clock
from app.db import make_engine, make_sessionmaker
from app.domain.grid.cells import get_cell
from app.domain.people.accounts import create_or_update_user
from app.models import Duty
from tests.browser.conftest import Server

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
USER, PASSWORD = "planner-li", "a-planner-password"


def bearer(server: Server, username: str, password: str) -> dict[str, str]:
    r = httpx.post(
        f"{server.url}/api/v1/auth/token", data={"username": username, "password": password}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def rounds(live_server: Server, database_url: str) -> dict:
    """A patroller on duty on four overdue cells of the demo city lying close together."""
    admin = bearer(live_server, "admin", "demo-admin-2026")
    due = httpx.get(
        f"{live_server.url}/api/v1/due", params={"hours": 0, "limit": 5000}, headers=admin
    ).json()["items"]
    cells = [i for i in due if i["kind"] == "cell" and i["overdue"]]
    assert len(cells) >= 4
    first = cells[0]
    near = sorted(
        cells[1:], key=lambda c: math.hypot(c["lon"] - first["lon"], c["lat"] - first["lat"])
    )
    chosen = [first, *near[:3]]
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session, session.begin():
        person, _ = create_or_update_user(
            session, username=USER, role="inspector", password=PASSWORD, name="巡查员李明"
        )
        for c in chosen:
            session.add(
                Duty(
                    cell_id=get_cell(session, c["ref"]).id,
                    person_id=person.id,
                    duty="patroller",
                    valid_from=datetime.now(UTC) - timedelta(days=1),
                )
            )
    engine.dispose()
    # Standing a little south-west of the cells, so the route has a direction.
    start = {
        "lat": min(c["lat"] for c in chosen) - 0.004,
        "lon": min(c["lon"] for c in chosen) - 0.004,
    }
    return {"cells": [c["ref"] for c in chosen], "start": start, "items": chosen}


@pytest.fixture
def phone(browser: Browser, rounds: dict) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 360, "height": 640},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        permissions=["geolocation"],
        geolocation={
            "latitude": rounds["start"]["lat"],
            "longitude": rounds["start"]["lon"],
            "accuracy": 8,
        },
    )
    yield context
    context.close()


def shown(page: Page) -> list[list[str]]:
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=plan-list] [data-testid=plan-item]')]
                 .map((li) => [li.dataset.kind, li.dataset.ref, li.dataset.cellCode])"""
    )


def wait_for_plan(page: Page, expected: list[list[str]]) -> None:
    page.wait_for_function(
        """(expected) => JSON.stringify([...document.querySelectorAll(
                '[data-testid=plan-list] [data-testid=plan-item]')]
              .map((li) => [li.dataset.kind, li.dataset.ref, li.dataset.cellCode]))
            === JSON.stringify(expected)""",
        arg=expected,
        timeout=20_000,
    )


def test_the_plan_shows_in_walking_order_and_offline_with_its_age(
    phone: BrowserContext, live_server: Server, rounds: dict
) -> None:
    page = phone.new_page()
    errors: list[str] = []
    hosts: set[str] = set()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
    page.goto(live_server.url + "/m/")
    page.get_by_test_id("login-username").fill(USER)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("patrol-here").wait_for()

    # The server's plan from the same position: overdue first, in walking order.
    plan = httpx.get(
        f"{live_server.url}/api/v1/plan",
        params=rounds["start"],
        headers=bearer(live_server, USER, PASSWORD),
    ).json()
    expected = [[i["kind"], i["ref"], i["cell_code"]] for i in plan["items"]]
    assert {code for _, _, code in expected} == set(rounds["cells"])
    assert all(i["overdue"] for i in plan["items"])
    wait_for_plan(page, expected)
    assert page.get_by_test_id("plan-age").inner_text() == "刚刚更新"
    first = page.get_by_test_id("plan-item").first
    assert "超期" in first.inner_text()
    map_box = page.get_by_test_id("plan-map")
    assert map_box.is_visible()
    assert page.locator(".plan-stop").count() == len(expected)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_test_id("plan").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    if os.environ.get("GRIDWATCH_DOC_SCREENSHOTS"):  # refresh docs/ only when asked
        page.screenshot(path=str(DOCS / "phone-plan.png"))

    # Offline: reopened from the service worker's shell, the plan is the last copy, aged.
    page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller")
    phone.set_offline(True)
    page.reload()
    page.get_by_test_id("patrol-here").wait_for()
    wait_for_plan(page, expected)
    age = "() => document.querySelector('[data-testid=plan-age]').textContent"
    page.wait_for_function(f"() => ({age})().includes('分钟前的数据')")
    assert "离线" in page.get_by_test_id("plan-age").inner_text()
    assert shown(page) == expected
    if os.environ.get("GRIDWATCH_DOC_SCREENSHOTS"):
        page.get_by_test_id("plan").scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        page.screenshot(path=str(DOCS / "phone-plan-offline.png"))
    phone.set_offline(False)
    assert errors == []
    assert hosts == {live_server.host}  # everything from gridwatch itself, no basemap


def test_a_cell_about_to_lapse_shows_on_the_desk_and_the_map(
    browser: Browser, live_server: Server, rounds: dict
) -> None:
    # A patrol one interval less two hours ago: the cell falls due in two hours (at risk).
    cell = rounds["items"][0]
    at = datetime.now(UTC) - timedelta(hours=cell["interval_hours"] - 2)
    body = {
        "id": str(uuid.uuid4()),
        "lat": cell["lat"],
        "lon": cell["lon"],
        "accuracy_m": 8,
        "observed_at": at.isoformat(),
        "kind": "patrol",
    }
    filed = httpx.post(
        f"{live_server.url}/api/v1/reports", json=body, headers=bearer(live_server, USER, PASSWORD)
    )
    assert filed.status_code == 201 and filed.json()["counted"], filed.text
    sup = bearer(live_server, "supervisor", "demo-supervisor-2026")
    panel = httpx.get(f"{live_server.url}/api/v1/at-risk", headers=sup).json()
    assert cell["ref"] in {
        c["ref"] for d in panel["districts"] for g in d["leaders"] for c in g["cells"]
    }

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(live_server.url + "/desk")
        page.get_by_test_id("login-username").fill("supervisor")
        page.get_by_test_id("login-password").fill("demo-supervisor-2026")
        page.get_by_test_id("login-submit").click()
        # Cells enter and leave the window as the server's clock runs: the desk's count is
        # compared by what it must hold (the cell planted here), not by the API's earlier total.
        count = page.get_by_test_id("at-risk-count")
        page.wait_for_function(
            "() => Number(document.querySelector('[data-testid=at-risk-count]')?.textContent) > 0"
        )
        assert count.is_visible()
        groups = page.get_by_test_id("at-risk-group")
        cells = " ".join(
            groups.nth(i).get_attribute("data-cells") or "" for i in range(groups.count())
        )
        assert cell["ref"] in cells.split()
        assert "6" in page.locator("#risk-title").inner_text()
        # By district and leader, both written out (a hover title is nothing on a touch screen).
        district = page.locator(
            f"[data-testid=at-risk-district][data-district='{cell['district_code']}']"
        )
        assert district.locator("strong").inner_text() == cell["district_name"]
        assert district.locator("strong").is_visible()
        chips = district.locator(f"[data-testid=at-risk-group][data-cells~='{cell['ref']}']")
        assert chips.first.is_visible()
        leaders = [p["name"] for p in cell["on_duty"] if p["duty"] == "leader"]
        assert leaders and all(any(n in text for n in leaders) for text in chips.all_inner_texts())

        page.goto(live_server.url + "/map")
        page.wait_for_function(
            "(code) => window.gridwatchMap.atRisk && window.gridwatchMap.atRisk.getLayers()"
            ".some((l) => l.feature.id === code)",
            arg=cell["ref"],
            timeout=20_000,
        )
        shown = page.evaluate("window.gridwatchMap.atRisk.getLayers().map((l) => l.feature.id)")
        assert cell["ref"] in shown and len(shown) == len(set(shown))
        assert page.get_by_test_id("map-legend-at-risk").is_visible()
        # "About to lapse" is about now: at a past instant the layer is empty.
        past = (clock.now() - timedelta(days=3)).astimezone(ZoneInfo("Asia/Shanghai"))
        page.get_by_test_id("map-as-of").fill(past.strftime("%Y-%m-%dT%H:%M"))
        page.wait_for_function("() => window.gridwatchMap.atRisk.getLayers().length === 0")
    finally:
        context.close()


def test_a_tap_on_a_stop_files_its_report_and_the_stop_leaves_the_plan(
    browser: Browser, live_server: Server, rounds: dict
) -> None:
    # A source never inspected, at a point of one of the patroller's cells: overdue, on the plan.
    cell = rounds["items"][1]
    admin = bearer(live_server, "admin", "demo-admin-2026")
    made = httpx.post(
        f"{live_server.url}/api/v1/sources",
        json={"type": "outfall", "name": "测试排污口", "lat": cell["lat"], "lon": cell["lon"]},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    source = str(made.json()["id"])

    # The phone stands at that point, inside the cell.
    context = browser.new_context(
        viewport={"width": 360, "height": 640},
        is_mobile=True,
        has_touch=True,
        permissions=["geolocation"],
        geolocation={"latitude": cell["lat"], "longitude": cell["lon"], "accuracy": 8},
    )
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sent: list[dict] = []
        page.on(
            "request",
            lambda r: (
                sent.extend(r.post_data_json) if r.url.endswith("/api/v1/reports/batch") else None
            ),
        )
        page.goto(live_server.url + "/m/")
        page.get_by_test_id("login-username").fill(USER)
        page.get_by_test_id("login-password").fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.get_by_test_id("patrol-here").wait_for()
        stop = "[data-testid=plan-item][data-kind='{}'][data-ref='{}']"
        cell_stop = page.locator(stop.format("cell", cell["ref"]))
        source_stop = page.locator(stop.format("source", source))
        source_stop.wait_for(timeout=20_000)
        cell_stop.wait_for()
        # The place in the cell is known before the form says which stop the report is for.
        page.wait_for_function(
            "(name) => document.getElementById('where').textContent.includes(name)",
            arg=cell["name"],
        )

        # By keyboard: a stop is a button; Enter opens the form for that cell, named.
        cell_stop.get_by_test_id("plan-report").focus()
        page.keyboard.press("Enter")
        report_for = page.get_by_test_id("report-for")
        assert report_for.is_visible()
        assert report_for.inner_text() == f"上报：{cell['name']}"
        page.locator("#back").tap()

        # By touch: the source's stop; the report filed from it names the source.
        source_stop.get_by_test_id("plan-report").tap()
        assert "测试排污口" in report_for.inner_text()
        assert "不在该网格" not in report_for.inner_text()
        page.get_by_test_id("report-submit").tap()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=report-status]').className === 'counted'",
            timeout=20_000,
        )
        assert [(r["kind"], r.get("source_id")) for r in sent] == [("patrol", int(source))]
        # One counted patrol at the point covers the source and the cell: both leave the plan.
        source_stop.wait_for(state="detached", timeout=20_000)
        cell_stop.wait_for(state="detached", timeout=20_000)
        assert page.get_by_test_id("report-for").is_hidden()
        others = [c for c in rounds["cells"] if c != cell["ref"]]
        page.locator(stop.format("cell", others[-1])).wait_for()
        assert errors == []
    finally:
        context.close()
