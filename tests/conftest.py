"""Test fixtures: a real PostGIS database, migrated from empty once per run, emptied after
every test so tests never depend on each other.

The database server is, in order: GRIDWATCH_TEST_DATABASE_URL, the server of
GRIDWATCH_DATABASE_URL, or the embedded cluster (started if needed). The test database is
`<name>_test` on that server, dropped and re-created at the start of the run. `make pytest`
runs the suite in parallel processes (pytest-xdist, one per core): each process has a
database of its own, `<name>_test_gw0`, `<name>_test_gw1`, … (with
GRIDWATCH_TEST_DATABASE_URL: that database for a serial run, `<name>_gw0`, … beside it for a
parallel one).

The clock is the suite's own (tests/clock.py): GRIDWATCH_TEST_NOW moves the whole run, the
`time_machine` fixture moves one test, and the database follows either.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import psycopg
import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import make_engine, make_sessionmaker
from app.domain.status import keep_rules_in_step
from app.main import create_app
from app.migrate import upgrade
from tests import clock, standby, testrun

_run_clock: time_machine.travel | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _run_clock
    if not hasattr(config, "workerinput"):
        testrun.name_the_run()  # before the workers start: they inherit it
        if not _configured_server():
            # Started once here, before parallel workers would race to create the cluster.
            from app import localdb

            localdb.start()
    clock.install_database_follower()
    if get_settings().database_pooler:
        # Through a transaction-mode pooler (`make test-pgbouncer`), the tests' own psycopg
        # connections must not prepare statements either (the app's: app/db.py).
        from psycopg import _preparing

        _preparing.PrepareManager.prepare_threshold = None
    start = clock.destination()
    if start is not None:
        _run_clock = time_machine.travel(start, tick=True)
        _run_clock.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        standby.remove()  # the run's streaming standby, when a replica test made one
        testrun.remove_files()
    if _run_clock is not None:
        _run_clock.stop()


def pytest_report_header(config: pytest.Config) -> str:
    start = clock.destination()
    return f"test clock: {'real time' if start is None else start.isoformat()} ({clock.ENV})"


# A signing secret for this run only: without one, gridwatch would generate one and keep it in
# the data folder of this checkout. Tests of that generation point data_dir elsewhere.
os.environ.setdefault("GRIDWATCH_SECRET_KEY", secrets.token_urlsafe(32))
get_settings.cache_clear()


def _configured_server() -> str | None:
    for var in ("GRIDWATCH_TEST_DATABASE_URL", "GRIDWATCH_DATABASE_URL"):
        if os.environ.get(var):
            return os.environ[var]
    return None


def _server_url() -> str:
    configured = _configured_server()
    if configured:
        return configured
    from app import localdb

    return localdb.start().url()


def _test_url() -> str:
    base = make_url(_server_url().replace("postgresql+psycopg://", "postgresql://"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, … in a parallel run
    if os.environ.get("GRIDWATCH_TEST_DATABASE_URL"):
        if not worker:
            return base.render_as_string(hide_password=False)
        name = f"{base.database}_{worker}"
    else:
        name = f"{base.database or 'gridwatch'}_test" + (f"_{worker}" if worker else "")
    admin = base.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url() -> str:
    url = _test_url()
    os.environ["GRIDWATCH_DATABASE_URL"] = url  # the CLI, run in-process, uses it too
    direct = os.environ.get("GRIDWATCH_TEST_DIRECT_URL")
    if direct:  # the server behind a pooler (`make test-pgbouncer`): for pg_dump, pg_restore
        name = make_url(url).database
        os.environ["GRIDWATCH_DIRECT_DATABASE_URL"] = (
            make_url(direct).set(database=name).render_as_string(hide_password=False)
        )
    get_settings.cache_clear()
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def empty_all_tables(engine: Engine) -> None:
    """Every table's rows, but the schema's own: PostGIS's, Alembic's and the rule values
    that `upgrade` wrote (app/rules.py; configuration, not test data); every sequence used
    since starts again (as TRUNCATE … RESTART IDENTITY would).

    DELETE with triggers off (session_replication_role = replica: no foreign-key checks, no
    summary upkeep, no append-only guard on the audit log — the superuser's way, as the demo
    snapshot is restored) instead of TRUNCATE: a test's few rows go in well under a
    millisecond a table, where TRUNCATE makes new files for every table, monthly partition
    and index (~250 of them, ~120 ms after each of the suite's ~1,000 tests)."""
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        tables = conn.scalars(
            text(
                "SELECT quote_ident(c.relname) FROM pg_class c "
                "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') "
                "AND NOT c.relispartition "  # a table's partitions go with it
                "AND c.relname NOT IN ('spatial_ref_sys', 'alembic_version', 'gridwatch_rules')"
            )
        ).all()
        # As TRUNCATE would, wait for writers still in flight (a server process a test left
        # behind, a backend whose client was killed) so their rows cannot land afterwards.
        conn.execute(text(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE"))
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (quote_ident names)
        conn.execute(
            text(
                "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
                "FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"
            )
        )


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "engine" in request.fixturenames:
        empty_all_tables(request.getfixturevalue("engine"))


@pytest.fixture
def fresh_minute() -> Iterator[None]:
    """The test runs from the top of a minute (tests/clock.py at_a_minutes_start)."""
    with clock.at_a_minutes_start():
        yield


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with make_sessionmaker(engine)() as session:
        yield session


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(database_url)) as c:
        yield c


@pytest.fixture
def rule_settings(db: Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Change rule settings as a deployment does: `rule_settings(source_radius_m=120)` is
    GRIDWATCH_SOURCE_RADIUS_M=120; the next server start (a new TestClient), `gridwatch
    migrate` or a restore then writes the values the database's functions read. Afterwards
    the settings and the database's values are put back."""

    def change(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setattr(get_settings(), name, value)

    yield change
    monkeypatch.undo()
    db.rollback()
    keep_rules_in_step(db)
    db.commit()
