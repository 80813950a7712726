"""Web security: lockout and throttling of sign-ins (audited), security headers and CSP,
secure cookies under HTTPS, no default secret outside development."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.api.headers import page_csp, tile_sources
from app.config import DEFAULT_SECRET, Settings, get_settings
from tests.factories import PASSWORD, make_user, two_by_two


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


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(
    client: TestClient, db: Session, user: str
) -> None:
    for _ in range(5):
        assert token(client, user, "wrong-password") == 401
    r = client.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
    assert r.status_code == 423 and "locked" in r.json()["detail"]
    assert audit_actions(db) == ["auth.failed"] * 5 + ["auth.locked", "auth.refused"]
    # The lock ends by itself; then the right password works and the count starts again.
    db.execute(text("UPDATE user_accounts SET locked_until = now() - interval '1 second'"))
    db.commit()
    assert token(client, user, PASSWORD) == 200
    assert audit_actions(db)[-1] == "auth.login"
    assert token(client, user, "wrong-password") == 401
    assert token(client, user, PASSWORD) == 200


def test_a_right_password_resets_the_count(client: TestClient, db: Session, user: str) -> None:
    for _ in range(4):
        assert token(client, user, "wrong-password") == 401
    assert token(client, user, PASSWORD) == 200
    for _ in range(4):
        assert token(client, user, "wrong-password") == 401
    assert token(client, user, PASSWORD) == 200


def test_unknown_usernames_are_audited_without_the_typed_text(
    client: TestClient, db: Session, user: str
) -> None:
    assert token(client, "my-secret-password", "x") == 401
    row = db.execute(text("SELECT action, target_type, target_id, after FROM audit_log")).one()
    assert row.action == "auth.failed" and row.target_type == "username-sha256"
    assert "my-secret-password" not in str(row)


def test_too_many_attempts_from_one_address_get_429(
    client: TestClient, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "login_attempts_per_minute", 3)
    assert [token(client, "nobody", "x") for _ in range(3)] == [401, 401, 401]
    r = client.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    page = client.post("/login", data={"username": user, "password": PASSWORD})
    assert page.status_code == 429 and "too many" in page.text


def test_the_sign_in_page_says_the_account_is_locked(
    client: TestClient, db: Session, user: str
) -> None:
    db.execute(text("UPDATE user_accounts SET locked_until = now() + interval '10 minutes'"))
    db.commit()
    page = client.post("/login", data={"username": user, "password": PASSWORD})
    assert (
        page.status_code == 423 and "locked" in page.text and "gw_session" not in str(page.headers)
    )


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


def test_cookies_are_secure_under_https(database_url: str, user: str) -> None:
    from app.main import create_app

    with TestClient(create_app(database_url), base_url="https://testserver") as c:
        r = c.post("/login", data={"username": user, "password": PASSWORD}, follow_redirects=False)
    cookies = r.headers.get_list("set-cookie")
    session = next(h for h in cookies if h.startswith("gw_session="))
    assert "Secure" in session and "HttpOnly" in session and "samesite=lax" in session.lower()


@pytest.mark.parametrize("env", ["test", "production"])
def test_the_default_secret_is_refused_outside_development(env: str) -> None:
    with pytest.raises(ValidationError, match="GRIDWATCH_SECRET_KEY"):
        Settings(env=env, secret_key=DEFAULT_SECRET)
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(env=env, secret_key="short")
    assert Settings(env=env, secret_key="x" * 40).env == env
    assert Settings(env="development").secret_key == DEFAULT_SECRET


def test_tokens_expire(client: TestClient, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import jwt

    expired = jwt.encode(
        {"sub": "1", "iat": datetime.now(UTC) - timedelta(days=2), "exp": datetime.now(UTC)},
        get_settings().secret_key,
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
