"""The pages satisfy their own Content-Security-Policy, and the policy stops injected script."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Server, Watched, sign_in

pytestmark = pytest.mark.browser

INJECT = """() => {
    const s = document.createElement('script');
    s.textContent = 'window.__injected = 1';
    document.body.appendChild(s);
    return new Promise(done => setTimeout(() => done(window.__injected === 1), 200));
}"""


@pytest.mark.parametrize(
    ("path", "user", "password", "ready"),
    [
        ("/map", "supervisor", "demo-supervisor-2026", "[data-testid=coverage-map]"),
        ("/m/", "inspector", "demo-inspector-2026", "[data-testid=patrol-here]"),
    ],
)
def test_pages_run_under_their_csp_and_injected_script_does_not(
    watched: Watched, live_server: Server, path: str, user: str, password: str, ready: str
) -> None:
    page = watched.page
    sign_in(page, live_server, path, user, password)
    page.wait_for_selector(ready)
    page.wait_for_timeout(500)
    response = page.request.get(live_server.url + path)
    csp = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert watched.errors == [], watched.errors  # CSP violations are console errors
    assert page.evaluate(INJECT) is False
    assert any("Content Security Policy" in e for e in watched.errors)


def test_login_and_docs_pages_have_no_csp_violations(watched: Watched, live_server: Server) -> None:
    page = watched.page
    page.goto(live_server.url + "/login")
    page.wait_for_selector("[data-testid=login-username]")
    page.goto(live_server.url + "/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=20_000)
    assert watched.errors == [], watched.errors
