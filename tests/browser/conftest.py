"""Browser tests: the real app served by uvicorn on a loopback port, the demo city in the
database for each module (tests/demo_city.py), Debian's Chromium driven by Playwright (never
a downloaded browser)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from app.db import make_engine
from app.main import create_app
from app.serving import CHROMIUM, CHROMIUM_ARGS, serve_in_thread
from tests import clock
from tests.conftest import empty_all_tables
from tests.demo_city import seed_demo_city


@dataclass
class Server:
    url: str
    host: str


@pytest.fixture(scope="module")
def demo_city(database_url: str) -> Iterator[None]:
    engine = make_engine(database_url)
    seed_demo_city(engine)
    yield
    empty_all_tables(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def live_server(database_url: str, demo_city: None) -> Iterator[Server]:
    with serve_in_thread(create_app(database_url)) as url:
        yield Server(url, url.removeprefix("http://"))


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    new_context = b.new_context

    def context_on_test_clock(**options: Any) -> BrowserContext:
        """Every page's clock reads what the server's does: a run moved by GRIDWATCH_TEST_NOW
        files reports from phones living on the same date."""
        context = new_context(**options)
        if clock.offset():
            context.clock.install(time=datetime.now(UTC))
        return context

    b.new_context = context_on_test_clock  # type: ignore[method-assign]
    yield b
    b.close()


@dataclass
class Watched:
    """A page with everything worth asserting on recorded: console errors, page errors,
    dialogs, and every host a request went to."""

    page: Page
    errors: list[str] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    w = Watched(page)
    page.on("console", lambda m: w.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: w.errors.append(str(e)))
    page.on("request", lambda r: w.hosts.add(r.url.split("/")[2]))

    def on_dialog(dialog: object) -> None:
        w.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)
    yield w
    context.close()


def sign_in(page: Page, server: Server, path: str, username: str, password: str) -> None:
    page.goto(server.url + path)
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    # The page signed into is loaded, its scripts run, before the test touches it (an input
    # filled earlier raised its events before anyone listened).
    with page.expect_navigation(wait_until="load"):
        page.get_by_test_id("login-submit").click()
