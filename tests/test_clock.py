"""The suite's clock (tests/clock.py): the database's idea of now follows the Python clock the
test moved, so summaries kept by triggers agree with the server."""

from datetime import UTC, datetime, timedelta

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests import clock
from tests.factories import staffed_field


def test_the_database_now_follows_a_moved_clock(
    engine: Engine, time_machine: time_machine.TimeMachineFixture
) -> None:
    time_machine.move_to(datetime(2031, 5, 1, 8, tzinfo=UTC))
    with engine.connect() as conn:
        db_now = conn.scalar(text("SELECT gridwatch_now()"))
    assert abs(db_now - datetime(2031, 5, 1, 8, tzinfo=UTC)) < timedelta(seconds=5)


def test_a_run_moved_by_the_environment_reads_relative_and_absolute_instants() -> None:
    assert clock.destination("") is None
    ahead = clock.destination("+365d")
    assert ahead is not None
    assert abs(ahead - clock.real_now() - timedelta(days=365)) < timedelta(seconds=5)
    assert clock.destination("2030-01-01T00:00:00+08:00") == datetime(2029, 12, 31, 16, tzinfo=UTC)


def test_a_connection_held_across_a_move_follows_it(
    engine: Engine, time_machine: time_machine.TimeMachineFixture
) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        conn.commit()
        time_machine.move_to(datetime(2032, 2, 2, tzinfo=UTC))
        db_now = conn.scalar(text("SELECT gridwatch_now()"))
    assert abs(db_now - datetime(2032, 2, 2, tzinfo=UTC)) < timedelta(seconds=5)


def test_a_ledger_source_is_created_at_the_rules_clock(
    client: TestClient, db: Session, time_machine: time_machine.TimeMachineFixture
) -> None:
    from tests.api.test_sources import source_body

    field = staffed_field(client, db)
    time_machine.move_to(datetime(2031, 3, 1, 9, tzinfo=UTC))
    r = client.post("/api/v1/sources", json=source_body(), headers=field.headers("insp"))
    assert r.status_code == 201, r.text
    created = db.scalar(text("SELECT created_at FROM sources"))
    assert abs(created - datetime(2031, 3, 1, 9, tzinfo=UTC)) < timedelta(seconds=5)
