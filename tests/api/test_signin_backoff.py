"""Sign-in back-off: guessing slows down per username, the owner is not locked out from an
address they signed in from, and unknown usernames get exactly the answers known ones get."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.main import create_app
from tests.factories import PASSWORD, make_user

OWNER, ATTACKER = "198.51.100.10", "203.0.113.66"
From = Callable[[str], TestClient]


@pytest.fixture
def app(database_url: str, db: Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[FastAPI]:
    monkeypatch.setattr(get_settings(), "login_attempts_per_minute", 1000)
    make_user(db, "insp", "inspector")
    application = create_app(database_url)
    with TestClient(application):  # runs the lifespan once; clients below share it
        yield application


@pytest.fixture
def from_(app: FastAPI) -> From:
    """A client whose requests come from `address`."""
    return lambda address: TestClient(app, client=(address, 40000))


def attempt(c: TestClient, username: str, password: str) -> Response:
    return c.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_wrong_passwords_slow_guessing_down(from_: From) -> None:
    attacker = from_(ATTACKER)
    with time_machine.travel(clock.now(), tick=False) as traveller:
        assert [attempt(attacker, "insp", "guess").status_code for _ in range(5)] == [401] * 5
        # Inside the wait nothing is weighed, not even the right password.
        r = attempt(attacker, "insp", PASSWORD)
        assert r.status_code == 429 and r.headers["retry-after"] == "2"
        waits = []
        for _ in range(11):
            traveller.shift(timedelta(seconds=int(r.headers["retry-after"])))
            assert attempt(attacker, "insp", "guess").status_code == 401  # weighed again
            r = attempt(attacker, "insp", "guess")
            assert r.status_code == 429
            waits.append(int(r.headers["retry-after"]))
    # Doubling, up to GRIDWATCH_LOGIN_BACKOFF_MAX_SECONDS: 96 guesses a day at most.
    assert waits == [4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]


def test_the_owner_signs_in_from_a_known_address_during_an_attack(from_: From) -> None:
    with time_machine.travel(clock.now(), tick=False):  # waits are seconds long
        owner, attacker = from_(OWNER), from_(ATTACKER)
        assert attempt(owner, "insp", PASSWORD).status_code == 200  # a good sign-in from here
        for _ in range(8):
            attempt(attacker, "insp", "guess")
        assert attempt(attacker, "insp", PASSWORD).status_code == 429
        assert attempt(owner, "insp", PASSWORD).status_code == 200
        assert attempt(owner, "insp", "typo-typo").status_code == 401  # still weighed, and counted
        # A new address in the guesser's network waits; elsewhere the guessing is not felt.
        assert attempt(from_("203.0.113.200"), "insp", PASSWORD).status_code == 429
        assert attempt(from_("192.0.2.1"), "insp", PASSWORD).status_code == 200


def test_guessing_from_one_network_does_not_delay_the_owner_on_a_new_network(
    from_: From,
) -> None:
    with time_machine.travel(clock.now(), tick=False):  # waits are seconds long
        attacker = from_(ATTACKER)
        for _ in range(12):
            attempt(attacker, "insp", "guess")
        assert attempt(attacker, "insp", PASSWORD).status_code == 429
        # The owner, on a phone whose carrier gave it an address never seen before:
        assert attempt(from_("100.64.7.9"), "insp", PASSWORD).status_code == 200


def test_guessing_from_many_networks_meets_a_ceiling_for_the_name(
    from_: From, monkeypatch: pytest.MonkeyPatch
) -> None:
    with time_machine.travel(clock.now(), tick=False):  # waits are seconds long
        monkeypatch.setattr(get_settings(), "login_max_failures_all_networks", 12)
        for i in range(12):  # three guesses each from four networks: none reaches its own limit
            attempt(from_(f"198.18.{i // 3}.{i}"), "insp", "guess")
        r = attempt(from_("192.0.2.77"), "insp", PASSWORD)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_an_address_whose_session_ended_with_a_password_change_is_not_trusted(
    from_: From, db: Session
) -> None:
    with time_machine.travel(clock.now(), tick=False):  # waits are seconds long
        stolen = from_(ATTACKER)
        assert attempt(stolen, "insp", PASSWORD).status_code == 200  # a thief signs in
        db.execute(
            text(
                "UPDATE signin_sessions SET ended_at = now(), end_reason = 'password changed' "
                "WHERE signed_in_from = :a"
            ),
            {"a": ATTACKER},
        )
        db.commit()
        for _ in range(6):
            attempt(stolen, "insp", "guess")
        assert attempt(stolen, "insp", PASSWORD).status_code == 429  # no longer a known address


def test_unknown_and_known_usernames_get_the_same_answers(from_: From, db: Session) -> None:
    attacker = from_(ATTACKER)
    with time_machine.travel(clock.now(), tick=False):
        known = [attempt(attacker, "insp", "guess") for _ in range(6)]
        unknown = [attempt(attacker, "ghost", "guess") for _ in range(6)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401] * 5 + [429]
    assert [r.json() for r in known] == [r.json() for r in unknown]
    assert known[-1].headers["retry-after"] == unknown[-1].headers["retry-after"]
    # Both are audited; the unknown name only as a keyed hash.
    rows = db.execute(text("SELECT action, target_type, target_id FROM audit_log")).all()
    assert {r.action for r in rows} == {"auth.failed", "auth.delayed"}
    assert {r.target_type for r in rows} == {"person", "username-sha256"}
    assert "ghost" not in str(rows)


def test_no_account_is_locked_by_wrong_passwords_from_elsewhere(from_: From) -> None:
    """What the 15-minute lock allowed: anyone typing a name five times kept its owner out."""
    for _ in range(5):
        attempt(from_(ATTACKER), "insp", "guess")
    owner = from_(OWNER)  # never signed in before: waits only the short first delay
    with time_machine.travel(clock.now() + timedelta(seconds=3), tick=False):
        assert attempt(owner, "insp", PASSWORD).status_code == 200
        # ... and the count starts again.
        assert attempt(from_(ATTACKER), "insp", "guess").status_code == 401


def test_the_sign_in_page_shows_the_wait(from_: From) -> None:
    with time_machine.travel(clock.now(), tick=False):  # waits are seconds long
        attacker = from_(ATTACKER)
        for _ in range(5):
            attacker.post("/login", data={"username": "insp", "password": "guess"})
        page = attacker.post("/login", data={"username": "insp", "password": PASSWORD})
        assert page.status_code == 429 and page.headers["retry-after"] == "2"
        assert "try again" in page.text and "gw_session" not in str(page.headers)
