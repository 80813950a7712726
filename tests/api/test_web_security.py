"""Web security: throttling of sign-ins per address, security headers and CSP, secure
cookies under HTTPS, cookies refused on requests from other sites."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.api.headers import page_csp, tile_sources
from app.config import Settings, get_settings
from app.secret import signing_key
from tests.factories import PASSWORD, make_user, sign_in, two_by_two


@pytest.fixture
def user(db: Session) -> str:
    two_by_two(db)
    make_user(db, "insp", "inspector")
    make_user(db, "admin", "admin")
    return "insp"


def token(client: TestClient, username: str, password: str) -> int:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return r.status_code


def audit_actions(db: Session) -> list[str]:
    db.expire_all()
    return list(db.scalars(text("SELECT action FROM audit_log ORDER BY seq")))


def test_unknown_usernames_are_audited_without_the_typed_text(
    client: TestClient, db: Session, user: str
) -> None:
    assert token(client, "my-secret-password", "x") == 401
    row = db.execute(text("SELECT action, target_type, target_id, after FROM audit_log")).one()
    assert row.target_id and row.target_id != "my-secret-password"
    assert row.action == "auth.failed" and row.target_type == "username-sha256"
    assert "my-secret-password" not in str(row)


def test_too_many_attempts_from_one_address_get_429(
    client: TestClient, user: str, monkeypatch: pytest.MonkeyPatch, fresh_minute: None
) -> None:
    monkeypatch.setattr(get_settings(), "login_attempts_per_minute", 3)
    assert [token(client, "nobody", "x") for _ in range(3)] == [401, 401, 401]
    r = client.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    page = client.post("/login", data={"username": user, "password": PASSWORD})
    assert page.status_code == 429 and "too many" in page.text


def test_every_response_carries_security_headers(client: TestClient, user: str) -> None:
    for path in ("/healthz", "/api/v1/cells", "/login", "/openapi.json", "/static/app/phone.js"):
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
    api = client.get("/api/v1/cells").headers["content-security-policy"]
    assert api.startswith("default-src 'none'")


def test_page_csp_allows_exactly_the_pages_inline_scripts() -> None:
    html = (
        b"<script>var a = 1;</script><script src='/x.js'></script>"
        b'<script type="application/json">{"k": 1}</script><script defer>go()</script>'
    )
    csp = page_csp(html, Settings())
    script_src = next(p for p in csp.split("; ") if p.startswith("script-src"))
    assert script_src.count("'sha256-") == 2 and "unsafe-inline" not in script_src
    assert "unsafe-eval" not in csp


@pytest.mark.parametrize(
    ("basemap", "source"),
    [
        ("none", None),
        ("osm", "https://tile.openstreetmap.org"),
        ("tianditu", "https://*.tianditu.gov.cn"),
        (
            "https://tiles.intranet.gov.cn:8443/{z}/{x}/{y}.png",
            "https://tiles.intranet.gov.cn:8443",
        ),
        ("http://{s}.tiles.local/{z}/{x}/{y}.png", "http://*.tiles.local"),
        ("https://t{s}.maps.gov.cn/{z}/{x}/{y}.png", "https://*.maps.gov.cn"),
        ("https://mapbox.{s}.example.com/{z}/{x}/{y}.png", None),  # no wildcard mid-host
        ("https://a.example.com;script-src *;/{z}/{x}/{y}.png", None),
    ],
)
def test_the_basemap_host_is_allowed_for_images(basemap: str, source: str | None) -> None:
    assert tile_sources(Settings(basemap=basemap)) == ([source] if source else [])


def test_cookies_carry_the_host_prefix_under_https(database_url: str, user: str) -> None:
    from app.main import create_app

    with TestClient(create_app(database_url), base_url="https://testserver") as c:
        r = c.post("/login", data={"username": user, "password": PASSWORD}, follow_redirects=False)
        cookies = r.headers.get_list("set-cookie")
        session = next(h for h in cookies if h.startswith("__Host-gw_session="))
        csrf = next(h for h in cookies if h.startswith("__Host-gw_csrf="))
        for cookie in (session, csrf):
            attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
            assert {"secure", "path"} <= attributes and "domain" not in attributes, cookie
            assert "Path=/;" in cookie + ";", cookie
        assert "HttpOnly" in session and "samesite=lax" in session.lower()
        assert not any(h.startswith("gw_session=") for h in cookies)
        assert c.get("/api/v1/cells").status_code == 200


def test_an_unprefixed_cookie_is_no_session_under_https(database_url: str, user: str) -> None:
    """A cookie planted by a sibling host or a plain-HTTP page of this host (cookie tossing)
    lacks the __Host- prefix, and is ignored over HTTPS."""
    from app.main import create_app

    with TestClient(create_app(database_url), base_url="https://testserver") as c:
        c.post("/login", data={"username": user, "password": PASSWORD}, follow_redirects=False)
        token = c.cookies["__Host-gw_session"]
        c.cookies.clear()
        c.cookies.set("gw_session", token)
        assert c.get("/api/v1/cells").status_code == 401
        assert c.get("/map", follow_redirects=False).status_code == 303  # to the sign-in page


def test_tokens_expire(client: TestClient, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import jwt

    expired = jwt.encode(
        {"sub": "1", "iat": datetime.now(UTC) - timedelta(days=2), "exp": datetime.now(UTC)},
        signing_key(),
        algorithm="HS256",
    )
    r = client.get("/api/v1/cells", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401


def test_a_cookie_carries_no_authority_on_requests_from_another_site(
    client: TestClient, user: str
) -> None:
    login = client.post("/login", data={"username": user, "password": PASSWORD})
    assert login.status_code == 200  # followed the redirect to the map
    assert client.get("/api/v1/cells").status_code == 200
    r = client.get("/api/v1/cells", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert client.get("/api/v1/cells", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200


def test_vendor_packages_serve_assets_but_never_their_html_pages(client: TestClient) -> None:
    assert client.get("/static/vendor/leaflet/dist/leaflet.js").status_code == 200
    for page in (
        "/static/vendor/leaflet.markercluster/example/geojson.html",
        "/static/vendor/swagger-ui-dist/index.html",
        "/static/vendor/leaflet/package.json",
    ):
        assert client.get(page).status_code == 404, page


EXPORTS = (
    "/api/v1/exports/accountability?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
    "/api/v1/exports/cells/410702001001001.zip?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
)


@pytest.mark.parametrize("url", EXPORTS, ids=["export", "dossier"])
def test_a_cookie_exports_only_for_requests_from_gridwatchs_own_pages(
    client: TestClient, db: Session, user: str, url: str
) -> None:
    """An export is a GET that writes an audit entry in the viewer's name: a link or image on
    any other page — another host of the same site included — must not make one."""
    assert client.post("/login", data={"username": "admin", "password": PASSWORD}).is_success
    refused = [
        {},  # no evidence where the request came from (old browser, stripped Referer)
        {"Sec-Fetch-Site": "same-site"},  # a sibling host
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Referer": "http://testserver.evil.example/page"},
    ]
    for headers in refused:
        assert client.get(url, headers=headers).status_code == 403, headers
    allowed = [
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar, or a bookmark
        {"Origin": "http://testserver"},
        {"Referer": "http://testserver/map"},
    ]
    for headers in allowed:
        assert client.get(url, headers=headers).status_code == 200, headers
    # A bearer token is never sent by another site's page: no such check.
    client.cookies.clear()
    bearer = sign_in(client, "admin")
    assert client.get(url, headers=bearer).status_code == 200


def test_a_cookie_carries_no_authority_from_a_sibling_host(client: TestClient, user: str) -> None:
    assert client.post("/login", data={"username": user, "password": PASSWORD}).is_success
    r = client.get("/api/v1/cells", headers={"Sec-Fetch-Site": "same-site"})
    assert r.status_code == 403
