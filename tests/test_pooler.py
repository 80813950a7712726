"""GRIDWATCH_DATABASE_POOLER: through a transaction-mode pooler (PgBouncer) a connection keeps
no session state — no server-side prepared statements, and the connection settings made in
each transaction instead of once at start-up (which PgBouncer's `options` refusal forbids).
`make test-pgbouncer` runs the whole suite that way."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from app.config import get_settings
from app.db import SESSION_SETTINGS, make_engine
from tests.cli.helpers import run_cli

SETTINGS = text(
    "SELECT current_setting('jit'), current_setting('timezone'), "
    "current_setting('plan_cache_mode'), "
    "(SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql)"
)


@pytest.mark.parametrize("pooled", [True, False])
def test_a_pooled_engine_prepares_nothing_and_sets_each_transaction(
    database_url: str, monkeypatch: pytest.MonkeyPatch, pooled: bool
) -> None:
    if get_settings().database_pooler and not pooled:
        pytest.skip("the test server is a pooler: it refuses a direct connection's options")
    monkeypatch.setattr(get_settings(), "database_pooler", pooled)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            for _ in range(8):  # psycopg would prepare from the 5th run
                row = conn.execute(SETTINGS).one()
            conn.commit()
            after = conn.execute(SETTINGS).one()  # a new transaction: set again
    finally:
        engine.dispose()
    assert tuple(row[:3]) == tuple(SESSION_SETTINGS.values())
    assert tuple(after[:3]) == tuple(SESSION_SETTINGS.values())
    # Directly connected, psycopg did prepare it.
    assert after[3] == 0 if pooled else after[3] >= 1


def test_backup_through_a_pooler_needs_the_server_itself(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_dump sets session state (search_path, …) that a transaction pooler would hand on to
    other clients: without GRIDWATCH_DIRECT_DATABASE_URL the backup is refused (with it,
    tests/cli/test_backup.py backs up and restores through `make test-pgbouncer`)."""
    monkeypatch.setattr(get_settings(), "database_pooler", True)
    monkeypatch.setattr(get_settings(), "direct_database_url", None)
    refused = run_cli("backup", tmp_path / "a.tar")
    assert refused.exit_code == 1
    assert "GRIDWATCH_DIRECT_DATABASE_URL" in refused.output
    assert not (tmp_path / "a.tar").exists()
