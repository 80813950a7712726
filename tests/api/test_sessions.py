"""Sessions end when they should: logout (page and API), a password change, a disabled
account — every token and cookie of theirs is refused on the next request."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from tests.factories import PASSWORD, make_user, sign_in

NEW_PASSWORD = "a-brand-new-password"


def audit_actions(db: Session) -> list[str]:
    db.expire_all()
    return list(db.scalars(text("SELECT action FROM audit_log ORDER BY seq")))


def test_a_cookie_replayed_after_logout_is_refused(client: TestClient, db: Session) -> None:
    make_user(db, "sup", "supervisor")
    page = client.post("/login", data={"username": "sup", "password": PASSWORD})
    assert page.status_code == 200
    cookie, csrf = client.cookies["gw_session"], client.cookies["gw_csrf"]
    assert client.get("/api/v1/reports").status_code == 200
    out = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and "gw_session=" in out.headers["set-cookie"]
    client.cookies.clear()
    client.cookies.set("gw_session", cookie)  # the stolen or kept copy
    assert client.get("/api/v1/reports").status_code == 401
    assert client.get("/map", follow_redirects=False).status_code == 303
    assert audit_actions(db)[-1] == "auth.logout"


def test_api_logout_ends_only_that_session(client: TestClient, db: Session) -> None:
    make_user(db, "sup", "supervisor")
    phone, desk = sign_in(client, "sup"), sign_in(client, "sup")
    assert client.post("/api/v1/auth/logout", headers=phone).status_code == 204
    assert client.get("/api/v1/reports", headers=phone).status_code == 401
    assert client.post("/api/v1/auth/logout", headers=phone).status_code == 401
    assert client.get("/api/v1/reports", headers=desk).status_code == 200


def test_a_password_change_ends_every_session(client: TestClient, db: Session) -> None:
    make_user(db, "admin", "admin")
    make_user(db, "insp", "inspector")
    admin, old = sign_in(client, "admin"), [sign_in(client, "insp") for _ in range(2)]
    r = client.post("/api/v1/users/insp/password", json={"password": NEW_PASSWORD}, headers=admin)
    assert r.status_code == 200
    assert r.json() == {"username": "insp", "active": True, "sessions_ended": 2}
    for headers in old:
        assert client.get("/api/v1/cells", headers=headers).status_code == 401
    wrong = client.post("/api/v1/auth/token", data={"username": "insp", "password": PASSWORD})
    assert wrong.status_code == 401
    assert client.get("/api/v1/cells", headers=sign_in(client, "insp", NEW_PASSWORD)).is_success
    assert client.get("/api/v1/cells", headers=admin).status_code == 200  # others unaffected


def test_a_disabled_account_cannot_sign_in_and_its_tokens_die(
    client: TestClient, db: Session
) -> None:
    make_user(db, "admin", "admin")
    make_user(db, "insp", "inspector")
    admin, theirs = sign_in(client, "admin"), sign_in(client, "insp")
    r = client.post("/api/v1/users/insp/disable", headers=admin)
    assert r.json() == {"username": "insp", "active": False, "sessions_ended": 1}
    assert client.get("/api/v1/cells", headers=theirs).status_code == 401
    right = client.post("/api/v1/auth/token", data={"username": "insp", "password": PASSWORD})
    wrong = client.post("/api/v1/auth/token", data={"username": "insp", "password": "nope!!!!"})
    assert right.status_code == wrong.status_code == 401
    assert right.json() == wrong.json() == {"detail": "wrong username or password"}
    # A password change leaves the account disabled.
    r = client.post("/api/v1/users/insp/password", json={"password": NEW_PASSWORD}, headers=admin)
    assert r.json()["active"] is False
    again = client.post("/api/v1/auth/token", data={"username": "insp", "password": NEW_PASSWORD})
    assert again.status_code == 401


def test_only_an_admin_manages_accounts(client: TestClient, db: Session) -> None:
    make_user(db, "sup", "supervisor")
    make_user(db, "insp", "inspector")
    make_user(db, "admin", "admin")
    sup = sign_in(client, "sup")
    assert client.post("/api/v1/users/insp/disable", headers=sup).status_code == 403
    r = client.post("/api/v1/users/insp/password", json={"password": NEW_PASSWORD}, headers=sup)
    assert r.status_code == 403
    admin = sign_in(client, "admin")
    assert client.post("/api/v1/users/nobody/disable", headers=admin).status_code == 404
    short = client.post("/api/v1/users/insp/password", json={"password": "short"}, headers=admin)
    assert short.status_code == 400 and "at least 8" in short.json()["detail"]


def test_account_changes_are_audited_without_the_password(client: TestClient, db: Session) -> None:
    make_user(db, "admin", "admin")
    make_user(db, "insp", "inspector")
    admin = sign_in(client, "admin")
    client.post("/api/v1/users/insp/password", json={"password": NEW_PASSWORD}, headers=admin)
    client.post("/api/v1/users/insp/disable", headers=admin)
    rows = db.execute(
        text("SELECT actor, action, after::text FROM audit_log WHERE action LIKE 'user.%'")
    ).all()
    assert [(r.actor, r.action) for r in rows] == [
        ("admin", "user.password"),
        ("admin", "user.disable"),
    ]
    assert NEW_PASSWORD not in str(rows)


def test_a_session_ends_when_its_time_is_up(client: TestClient, db: Session) -> None:
    make_user(db, "sup", "supervisor")
    headers = sign_in(client, "sup")
    later = clock.now() + timedelta(minutes=get_settings().token_minutes, seconds=1)
    with time_machine.travel(later, tick=False):
        assert client.get("/api/v1/reports", headers=headers).status_code == 401
    assert client.get("/api/v1/reports", headers=headers).status_code == 200
