"""The closed loop in the browser (issue 17): an inspector's issue on the phone becomes a case
on the command office's desk; it is accepted, dispatched to the cell's leader, rectified on
the leader's phone, sent back once, rectified again and closed — each step on the timeline
with its actor. Headless Chromium, the demo city, the real app."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import time_machine
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from app import clock
from tests.browser.conftest import Server, Watched, sign_in
from tests.browser.test_phone import camera_photo, open_app, token

pytestmark = pytest.mark.browser

COMMAND = ("command", "demo-command-2026")
LEADER = ("leader", "demo-leader-2026")
INSPECTOR = ("inspector", "demo-inspector-2026")
DISCIPLINE = ("discipline", "demo-discipline-2026")


@pytest.fixture(scope="module")
def spot(live_server: Server) -> dict:
    """Where the demo inspector made their last counted report (so the next one there is no
    impossible speed), in a cell the demo leader leads."""
    headers = token(live_server, *INSPECTOR)
    reports = httpx.get(
        f"{live_server.url}/api/v1/reports",
        headers=headers,
        params={"counted": True, "limit": 1000},
    ).json()["reports"]
    last = next(r for r in reports if r["reporter"] == "inspector")
    led = {
        c["code"]
        for c in httpx.get(
            f"{live_server.url}/api/v1/cells",
            headers=token(live_server, *LEADER),
            params={"leaf": True},
        ).json()["cells"]
    }
    assert last["cell_code"] in led
    return {"code": last["cell_code"], "lat": last["lat"], "lon": last["lon"]}


@pytest.fixture
def phone_at(browser: Browser, playwright: Playwright, spot: dict) -> Iterator:
    contexts: list[BrowserContext] = []

    def open_phone() -> BrowserContext:
        context = browser.new_context(
            **playwright.devices["Pixel 7"],
            permissions=["geolocation"],
            geolocation={"latitude": spot["lat"], "longitude": spot["lon"], "accuracy": 6},
        )
        contexts.append(context)
        return context

    yield open_phone
    for context in contexts:
        context.close()


def file_issue(page: Page, spot: dict, text: str, colour: tuple[int, int, int]) -> None:
    page.get_by_test_id("patrol-here").tap()
    page.get_by_test_id("report-kind-issue").tap()
    page.get_by_test_id("report-description").fill(text)
    photo = camera_photo(spot["lat"], spot["lon"], colour, size=(1600, 1200))
    page.get_by_test_id("report-photo").set_input_files(
        files=[{"name": "IMG_0417.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    page.get_by_test_id("report-submit").tap()
    page.wait_for_function(
        "() => /counted|flagged/.test(document.querySelector('[data-testid=report-status]')"
        ".className)",
        timeout=20_000,
    )
    assert "counted" in (page.get_by_test_id("report-status").get_attribute("class") or ""), (
        page.get_by_test_id("report-status").inner_text()
    )


def rectify_on_phone(phone: Page, case_id: str, spot: dict, colour: tuple[int, int, int]) -> None:
    phone.reload()
    mine = phone.locator(f"[data-testid=my-hotspot][data-case-id='{case_id}']")
    mine.get_by_test_id("hotspot-rectify").tap()
    photo = camera_photo(spot["lat"], spot["lon"], colour, size=(1600, 1200))
    phone.get_by_test_id("report-photo").set_input_files(
        files=[{"name": "IMG_0420.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    phone.get_by_test_id("report-submit").tap()
    phone.wait_for_function(
        "(t) => document.querySelector('[data-testid=report-status]').textContent.includes(t)",
        arg="已报告整改完成",
        timeout=20_000,
    )


def open_case(desk: Page, case_id: str) -> None:
    desk.locator(f"[data-testid=case-row][data-case-id='{case_id}']").click()
    desk.wait_for_function(
        "(id) => location.search.includes(id) && document.querySelector("
        "'[data-testid=case-detail] [data-testid=case-timeline]')",
        arg=case_id,
    )


def act(desk: Page, action: str, note: str | None = None, expect: str | None = None) -> None:
    """Take a step on the open case; wait until the desk shows the new status word."""
    desk.get_by_test_id(f"case-action-{action}").click()
    if note is not None:
        desk.get_by_test_id("case-note").fill(note)
    desk.get_by_test_id("case-submit").click()
    if expect is not None:
        status_is(desk, expect)


def status_is(desk: Page, word: str) -> None:
    desk.wait_for_function(
        "(w) => { const s = document.querySelector('[data-testid=case-status]');"
        " return s && s.textContent === w; }",
        arg=word,
    )


def deadline_in(desk: Page, hours: int) -> str:
    """A `datetime-local` value `hours` from now on the browser's own clock and zone."""
    return desk.evaluate(
        """(h) => { const d = new Date(Date.now() + h * 3600000);
             const p = (n) => String(n).padStart(2, '0');
             return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T'
               + p(d.getHours()) + ':' + p(d.getMinutes()); }""",
        hours,
    )


def test_an_inspectors_issue_goes_round_the_whole_loop_at_the_desk(
    watched: Watched, phone_at, live_server: Server, spot: dict
) -> None:
    text = f"河道旁倾倒建筑垃圾 {uuid.uuid4().hex[:6]}"
    inspector = open_app(phone_at(), live_server, *INSPECTOR)
    file_issue(inspector, spot, text, (140, 110, 60))

    # The command office sees it on the desk, with the inspector's photo.
    desk = watched.page
    sign_in(desk, live_server, "/desk", *COMMAND)
    row = desk.locator("[data-testid=case-row]", has_text=text)
    row.wait_for()
    case_id = row.get_attribute("data-case-id")
    assert case_id
    open_case(desk, case_id)
    status_is(desk, "待立案")
    photo = desk.locator("[data-testid=case-photo][data-role=finding] img")
    desk.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
    )
    assert desk.get_by_test_id("case-flags").count() == 0  # a counted report: nothing to warn of

    act(desk, "accept", "属实，予以立案", expect="已立案")
    desk.get_by_test_id("case-action-dispatch").click()
    assignee = desk.get_by_test_id("case-assignee")
    desk.wait_for_function(
        "() => document.querySelector('[data-testid=case-assignee] option[value=leader]')"
    )
    assignee.select_option("leader")
    desk.get_by_test_id("case-deadline").fill(deadline_in(desk, 2))
    desk.get_by_test_id("case-note").fill("请网格长两小时内处置")
    desk.get_by_test_id("case-submit").click()
    status_is(desk, "已派遣")
    assert "已办理" in desk.get_by_test_id("case-message").inner_text()

    # The leader's phone lists it among the cases due within 24 h, with a badge.
    leader = open_app(phone_at(), live_server, *LEADER)
    leader.locator(f"[data-testid=my-due-item][data-case-id='{case_id}']").wait_for()
    assert int(leader.get_by_test_id("my-hotspots-badge").inner_text()) >= 1
    rectify_on_phone(leader, case_id, spot, (40, 140, 70))

    # The desk still shows "dispatched": a step taken on that view is refused and reloaded.
    act(desk, "extend")
    status_is(desk, "待核查")
    assert "已被他人处理" in desk.get_by_test_id("case-message").inner_text()

    act(desk, "rework", "东侧仍有裸露垃圾，返工", expect="整改中")
    rectify_on_phone(leader, case_id, spot, (60, 160, 90))
    open_case(desk, case_id)
    status_is(desk, "待核查")
    assert desk.locator("[data-testid=case-photo][data-role=evidence]").count() == 2
    act(desk, "close", "复查合格，销号", expect="已销号")

    events = desk.get_by_test_id("case-event")
    steps = [
        (events.nth(i).get_attribute("data-to"), events.nth(i).inner_text())
        for i in range(events.count())
    ]
    expected = [
        ("reported", "inspector"),
        ("accepted", "command"),
        ("dispatched", "command"),
        ("rectifying", "leader"),
        ("rectified", "leader"),
        ("rectifying", "command"),
        ("rectified", "leader"),
        ("closed", "command"),
    ]
    assert [to for to, _ in steps] == [to for to, _ in expected]
    for (to, words), (_, actor) in zip(steps, expected, strict=True):
        assert f"（{actor}）" in words, (to, words)
    assert "东侧仍有裸露垃圾，返工" in steps[5][1] and "复查合格，销号" in steps[7][1]
    # (Chromium logs the refused stale step as a failed load; nothing else may fail.)
    assert [e for e in watched.errors if "409 (Conflict)" not in e] == []
    assert watched.hosts == {live_server.host}

    # Once its deadline has passed, the month's indicators count the one rework.
    headers = token(live_server, *COMMAND)  # signed in now, not in the future
    now = clock.now()
    with time_machine.travel(now + timedelta(hours=3), tick=True):
        r = httpx.get(
            f"{live_server.url}/api/v1/indicators",
            params={
                "from": (now - timedelta(days=1)).isoformat(),
                "to": (now + timedelta(hours=4)).isoformat(),
                "by": "cell",
                "within": spot["code"],
            },
            headers=headers,
        )
    assert r.status_code == 200, r.text
    [cell] = [row for row in r.json()["rows"] if row["code"] == spot["code"]]
    assert cell["counts"]["reworks"] == 1 and cell["counts"]["closed"] == 1


def test_a_reader_who_may_not_act_sees_no_buttons_and_is_refused_by_the_api(
    watched: Watched, live_server: Server
) -> None:
    cases = httpx.get(
        f"{live_server.url}/api/v1/hotspots",
        params={"status": "reported"},
        headers=token(live_server, *DISCIPLINE),
    ).json()["hotspots"]
    case = cases[0]
    desk = watched.page
    sign_in(desk, live_server, f"/desk?case={case['id']}", *DISCIPLINE)
    desk.get_by_test_id("case-timeline").wait_for()
    assert desk.get_by_test_id("case-no-actions").is_visible()
    assert desk.locator("[data-testid^=case-action-]").count() == 0
    r = httpx.post(
        f"{live_server.url}/api/v1/hotspots/{case['id']}/transitions",
        json={"to": "accepted", "from": "reported"},
        headers=token(live_server, *DISCIPLINE),
    )
    assert r.status_code == 403
    stale = httpx.post(
        f"{live_server.url}/api/v1/hotspots/{case['id']}/transitions",
        json={"to": "accepted", "from": "dispatched"},
        headers=token(live_server, *COMMAND),
    )
    assert stale.status_code == 409 and "'reported'" in stale.json()["detail"]
    assert watched.errors == []


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (1024, 768)])
def test_the_desk_reads_well_on_a_screen_and_a_tablet(
    browser: Browser, live_server: Server, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, live_server, "/desk?status=dispatched", *COMMAND)
        page.get_by_test_id("case-row").first.wait_for()
        assert page.get_by_test_id("case-filter-status").input_value() == "dispatched"
        statuses = {
            page.get_by_test_id("case-row").nth(i).get_attribute("data-status")
            for i in range(page.get_by_test_id("case-row").count())
        }
        assert statuses == {"dispatched"}
        page.get_by_test_id("case-row").first.click()
        page.get_by_test_id("case-timeline").wait_for()
        page.wait_for_timeout(500)  # the map's tiles of vector shapes settle
        page.screenshot(path=f"/tmp/gridwatch-desk-{width}x{height}.png")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        for hook in ("case-list", "case-detail", "case-filter-status", "desk-reminders"):
            box = page.get_by_test_id(hook).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, hook
        assert errors == []
    finally:
        context.close()


def test_on_a_portrait_touch_tablet_in_english_a_case_opens_and_its_actions_are_reached(
    browser: Browser, live_server: Server
) -> None:
    context = browser.new_context(
        viewport={"width": 768, "height": 1024},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
    )
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, live_server, "/desk?status=reported&lang=en", *COMMAND)
        row = page.get_by_test_id("case-row").first
        row.wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 768
        row.tap()
        page.get_by_test_id("case-timeline").wait_for()
        page.wait_for_timeout(500)  # the map settles
        page.screenshot(path="/tmp/gridwatch-desk-tablet-portrait.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 768
        accept = page.get_by_test_id("case-action-accept")
        accept.scroll_into_view_if_needed()
        box = accept.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 768
        accept.tap()
        submit = page.get_by_test_id("case-submit")
        submit.scroll_into_view_if_needed()
        box = submit.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 768
        # English punctuation in English: "Submit: Accept", "name (username)".
        label = submit.inner_text()
        assert label.startswith("Submit: ") and "：" not in label, label
        facts = page.get_by_test_id("case-detail").locator("h3").all_inner_texts()
        assert not any(c in text for text in facts for c in "（）："), facts
        roster = page.get_by_test_id("case-roster")
        if roster.count():
            lines = roster.locator("li").all_inner_texts()
            assert all(": " in x and " (" in x and "（" not in x for x in lines), lines
        assert errors == []
    finally:
        context.close()
