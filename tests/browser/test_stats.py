"""The rankings page in Chromium (issue 18): last month's ranking of the demo districts, the
best and the worst marked, sortable, the XLSX download holding the same rows; the command
office sees its own district only; the page at 1024×768 and in English."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page

from app import clock
from app.domain.rankings.period import last_complete_month
from app.domain.timeparse import local_zone
from tests.browser.conftest import Server, Watched, sign_in

pytestmark = pytest.mark.browser
DISTRICTS = {"410702", "410703", "410704", "410711"}


def rows(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "[data-testid=stats-row]", "rows => rows.map(r => r.dataset.unitCode)"
    )


def open_stats(page: Page, server: Server, user: str = "supervisor", query: str = "") -> None:
    sign_in(page, server, "/stats" + query, user, f"demo-{user}-2026")
    page.wait_for_selector("[data-testid=stats-row]", timeout=60_000)


def test_last_month_ranks_the_demo_districts_and_the_xlsx_has_the_same_rows(
    browser: Browser, live_server: Server
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_stats(page, live_server)
    start, end = last_complete_month(clock.now())
    month = page.get_by_test_id("stats-period").locator("input[name=month]")
    assert month.input_value() == f"{start.astimezone(local_zone()):%Y-%m}"
    # The days the month covers, its last one included, as the bulletin prints them.
    last = end.astimezone(local_zone()) - timedelta(days=1)
    shown = f"{start.astimezone(local_zone()):%Y-%m-%d} – {last:%Y-%m-%d}"
    assert page.get_by_test_id("stats-summary").inner_text().startswith(shown)
    ranked = rows(page)
    assert set(ranked) == DISTRICTS and len(ranked) == 4
    table = page.get_by_test_id("stats-table")
    first, last = table.locator("tr.row").first, table.locator("tr.row").last
    assert "best" in (first.get_attribute("class") or "")
    assert "worst" in (last.get_attribute("class") or "")
    # Ninety days of history: every district has last month's rate and a change against the
    # month before it.
    assert table.locator(".chg").count() >= 4
    with page.expect_download() as download:
        page.get_by_test_id("stats-download-xlsx").click()
    sheet = load_workbook(io.BytesIO(open(download.value.path(), "rb").read())).worksheets[0]
    values = list(sheet.values)
    assert values[0][0] == "排名 rank" and sheet.freeze_panes == "A2"
    assert [str(v[1]) for v in values[1:]] == ranked
    names = [n.strip() for n in table.locator("td.unit .name").all_inner_texts()]
    assert [v[2] for v in values[1:]] == names
    # A click on the rank heading turns the order round: the worst first.
    table.locator("th[data-key=rank]").click()
    assert rows(page) == list(reversed(ranked))
    assert errors == []
    context.close()


def test_the_command_office_ranks_within_its_district(
    watched: Watched, live_server: Server
) -> None:
    open_stats(watched.page, live_server, "command", "?by=street")
    ranked = rows(watched.page)
    assert ranked and all(code.startswith("410702") for code in ranked)
    assert watched.errors == []


def test_the_page_fits_a_tablet_and_speaks_english(browser: Browser, live_server: Server) -> None:
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    open_stats(page, live_server, query="?lang=en&by=community")
    assert "Rank by" in page.inner_text("form#query")
    assert len(rows(page)) > 50
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1024
    assert page.get_by_test_id("stats-download-xlsx").is_visible()
    context.close()


def test_inspectors_may_not_see_rankings(watched: Watched, live_server: Server) -> None:
    sign_in(watched.page, live_server, "/stats", "inspector", "demo-inspector-2026")
    assert "无权" in watched.page.inner_text("body")


def test_a_refused_query_is_explained_in_the_pages_language(
    watched: Watched, live_server: Server
) -> None:
    # A period in the future: the server refuses it, in English, for the API's readers.
    query = "?mode=range&from=2099-01-01&to=2099-02-01"
    sign_in(watched.page, live_server, "/stats" + query, "supervisor", "demo-supervisor-2026")
    summary = watched.page.get_by_test_id("stats-summary")
    watched.page.wait_for_function(
        "() => document.querySelector('[data-testid=stats-summary]').textContent.includes('：')"
    )
    assert summary.inner_text() == "查询失败：统计期间或范围无效，请检查起止日期"
