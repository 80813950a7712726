"""Client addresses (forwarded headers only from trusted proxies), uvicorn as `gridwatch
serve` runs it, per-address limits kept in PostgreSQL (sign-in, Open311), and 4xx answers
that name neither database internals nor Python objects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.config import get_settings
from app.main import create_app
from app.serving import serve_in_thread
from tests.cli.helpers import run_cli as run
from tests.factories import PASSWORD, Field, make_user, report_body, staffed_field

SPOOFED = "203.0.113.50"


@pytest.fixture
def served(database_url: str, db: Session) -> Iterator[str]:
    """The app on a loopback port, served by uvicorn with gridwatch's own options."""
    make_user(db, "insp", "inspector")
    with serve_in_thread(create_app(database_url)) as url:
        yield url


def sign_in_from(db: Session) -> list[str]:
    db.expire_all()
    return list(db.scalars(text("SELECT after->>'from' FROM audit_log WHERE action LIKE 'auth.%'")))


def test_forwarded_for_from_an_unlisted_peer_is_not_believed(served: str, db: Session) -> None:
    spoof = {"X-Forwarded-For": SPOOFED, "X-Forwarded-Proto": "https"}
    httpx.post(
        f"{served}/api/v1/auth/token", data={"username": "insp", "password": "no"}, headers=spoof
    )
    login = httpx.post(
        f"{served}/login", data={"username": "insp", "password": PASSWORD}, headers=spoof
    )
    assert sign_in_from(db) == ["127.0.0.1", "127.0.0.1"]
    assert "__Host-" not in login.headers.get("set-cookie", "")  # the scheme was not believed


def test_forwarded_for_from_a_trusted_proxy_is_believed(
    served: str, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "trusted_proxies", "10.0.0.0/8, 127.0.0.1")
    forwarded = {"X-Forwarded-For": f"198.51.100.7, {SPOOFED}", "X-Forwarded-Proto": "https"}
    login = httpx.post(
        f"{served}/login", data={"username": "insp", "password": PASSWORD}, headers=forwarded
    )
    # The right-most address the trusted proxy appended; the left one is the client's claim.
    assert sign_in_from(db) == [SPOOFED]
    assert login.headers["set-cookie"].startswith("__Host-gw_session=")


def test_a_spoofed_address_does_not_escape_the_sign_in_limit(
    served: str, monkeypatch: pytest.MonkeyPatch, fresh_minute: None
) -> None:
    monkeypatch.setattr(get_settings(), "login_attempts_per_minute", 2)
    answers = [
        httpx.post(
            f"{served}/api/v1/auth/token",
            data={"username": "nobody", "password": "x"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        )
        for i in range(3)
    ]
    assert [r.status_code for r in answers] == [401, 401, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_the_server_does_not_name_itself(served: str) -> None:
    r = httpx.get(f"{served}/healthz")
    assert r.status_code == 200 and "server" not in r.headers


def test_serve_turns_uvicorns_own_forwarded_handling_off(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    result = run("serve", "--host", "0.0.0.0", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert "forwarded headers believed from: nobody" in result.output
    assert run("serve", "--workers", "3").exit_code == 0
    (_, one), (target, many) = calls
    for options in (one, many):
        assert options["proxy_headers"] is False and options["server_header"] is False
    assert one["host"] == "0.0.0.0" and one["port"] == 8123
    assert target == "app.main:create_app" and many["factory"] and many["workers"] == 3


def test_sign_in_limits_hold_across_server_processes(
    database_url: str, monkeypatch: pytest.MonkeyPatch, fresh_minute: None
) -> None:
    monkeypatch.setattr(get_settings(), "login_attempts_per_minute", 3)
    form = {"username": "nobody", "password": "x"}
    with (
        TestClient(create_app(database_url)) as one,
        TestClient(create_app(database_url)) as two,
    ):
        codes = [c.post("/api/v1/auth/token", data=form).status_code for c in (one, two, one, two)]
    assert codes == [401, 401, 401, 429]


@pytest.fixture
def hotline(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(get_settings(), "open311_keys", "hotline-key")
    return client


def complaint(key: str = "hotline-key") -> dict[str, object]:
    return {"api_key": key, "service_code": "dust", "lat": 35.31, "long": 113.91}


def test_open311_posts_are_limited_per_address(
    hotline: TestClient, monkeypatch: pytest.MonkeyPatch, fresh_minute: None
) -> None:
    monkeypatch.setattr(get_settings(), "open311_posts_per_minute", 2)
    codes = [hotline.post("/open311/v2/requests.json", data=complaint()) for _ in range(3)]
    assert [r.status_code for r in codes] == [201, 201, 429]
    assert int(codes[-1].headers["retry-after"]) >= 1
    assert codes[-1].json()[0]["code"] == 429  # in Open311's own error shape
    other = TestClient(hotline.app, client=("198.51.100.3", 40000))
    assert other.post("/open311/v2/requests.json", data=complaint()).status_code == 201


def test_wrong_open311_keys_are_limited_per_address(
    hotline: TestClient, monkeypatch: pytest.MonkeyPatch, fresh_minute: None
) -> None:
    monkeypatch.setattr(get_settings(), "open311_wrong_keys_per_minute", 3)
    guesses = [hotline.post("/open311/v2/requests.json", data=complaint(f"k{i}")) for i in range(3)]
    assert [r.status_code for r in guesses] == [403, 403, 403]
    # Past the limit the address waits, whatever key it sends.
    assert hotline.post("/open311/v2/requests.json", data=complaint("k4")).status_code == 429
    right = hotline.post("/open311/v2/requests.json", data=complaint())
    assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1
    other = TestClient(hotline.app, client=("198.51.100.3", 40000))
    assert other.post("/open311/v2/requests.json", data=complaint()).status_code == 201


INTERNALS = ("PostgreSQL", "psycopg", "sqlalchemy", "SQLSTATE", " object at 0x", "Traceback")


@pytest.fixture
def field(client: TestClient, db: Session, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Field:
    monkeypatch.setattr(get_settings(), "photo_dir", tmp_path / "photos")
    return staffed_field(client, db)


def test_refused_values_are_explained_without_the_databases_words(field: Field) -> None:
    headers = field.headers("insp")
    one = field.client.post(
        "/api/v1/reports", json=report_body(description="a\u0000b"), headers=headers
    )
    batch = field.client.post(
        "/api/v1/reports/batch", json=[report_body(description="x\u0000")], headers=headers
    )
    assert one.status_code == 422 and batch.json()["results"][0]["status"] == 422
    for answer in (one.text, batch.text):
        assert "NUL" in answer and not [w for w in INTERNALS if w in answer], answer


def test_an_unreadable_photo_is_refused_without_python_object_names(field: Field) -> None:
    headers = field.headers("insp")
    report = field.client.post("/api/v1/reports", json=report_body(), headers=headers).json()
    r = field.client.post(
        f"/api/v1/reports/{report['id']}/photos",
        files={"file": ("p.jpg", b"\xff\xd8 not really a jpeg", "image/jpeg")},
        headers=headers,
    )
    assert 400 <= r.status_code < 500
    assert "JPEG" in r.text and not [w for w in INTERNALS if w in r.text], r.text


def test_a_non_canonical_proxy_network_is_still_trusted(
    served: str, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "trusted_proxies", "127.0.0.1/8")  # host bits set
    httpx.post(
        f"{served}/api/v1/auth/token",
        data={"username": "insp", "password": "no"},
        headers={"X-Forwarded-For": SPOOFED},
    )
    assert sign_in_from(db) == [SPOOFED]


def test_addresses_of_one_ipv6_64_count_as_one_client(db: Session) -> None:
    from app.domain.errors import TooManyAttempts
    from app.domain.people import limits

    with pytest.raises(TooManyAttempts):
        for i in range(1, 5):  # a client rotating through its /64
            limits.count(db, limits.SIGN_IN, f"2001:db8:1:2::{i:x}", 3, "sign-ins")
    db.rollback()
