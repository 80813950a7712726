from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, make_user, sign_in


def test_healthz_answers_ok_when_the_database_answers(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable() -> None:
    from app.main import create_app

    with TestClient(create_app("postgresql://nobody@127.0.0.1:1/none")) as c:
        r = c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"


def test_token_for_right_password_only(client: TestClient, db: Session) -> None:
    make_user(db, "alice", "supervisor")
    ok = client.post("/api/v1/auth/token", data={"username": "alice", "password": PASSWORD})
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "bearer" and ok.json()["access_token"]

    wrong = client.post("/api/v1/auth/token", data={"username": "alice", "password": "nope-nope"})
    unknown = client.post("/api/v1/auth/token", data={"username": "bob", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong username or password"}


def test_password_is_stored_as_argon2(db: Session) -> None:
    person = make_user(db, "carol", "admin")
    assert person.account is not None
    assert person.account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in person.account.password_hash


def test_api_needs_a_valid_token(client: TestClient, db: Session) -> None:
    assert client.get("/api/v1/cells").status_code == 401
    bad = client.get("/api/v1/cells", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and "invalid or has expired" in bad.json()["detail"]


def test_disabled_account_token_stops_working(client: TestClient, db: Session) -> None:
    person = make_user(db, "dave", "admin")
    headers = sign_in(client, "dave")
    assert client.get("/api/v1/cells", headers=headers).status_code == 200
    assert person.account is not None
    person.account.is_active = False
    db.commit()
    assert client.get("/api/v1/cells", headers=headers).status_code == 401
