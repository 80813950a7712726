"""The non-owner role the server connects as in production (app/sql/app_role.sql, applied by
every `gridwatch migrate`): it serves the API — a report is stored — but it cannot disable the
audit log's append-only trigger, nor truncate, update or delete the log."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.domain.accountability import verify as audit_verify
from app.main import create_app
from app.migrate import upgrade
from app.models import Report
from tests.factories import SINCE, UNITS, bearer, give_duty, make_user, report_body, two_by_two


@pytest.fixture
def app_url(database_url: str) -> Iterator[str]:
    """A login of this test's own that is a member of gridwatch_app (as a deployment gives
    the role a login), connecting without ownership of anything."""
    login = f"gw_app_test_{secrets.token_hex(4)}"
    upgrade(database_url)  # re-applied, as each `gridwatch migrate` does: must be repeatable
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {login} LOGIN NOINHERIT IN ROLE gridwatch_app")
        conn.execute(f"ALTER ROLE {login} SET role = 'gridwatch_app'")
    try:
        # Straight to the server: a pooler in front (`make test-pgbouncer`) knows only the
        # roles listed in its auth file, not this test's own.
        server = os.environ.get("GRIDWATCH_DIRECT_DATABASE_URL") or database_url
        yield make_url(server).set(username=login).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (login,),
            )
            conn.execute(f"DROP ROLE {login}")


def test_the_app_role_owns_nothing_and_has_no_ddl_rights(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        owned = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = 'gridwatch_app'"
        ).fetchone()
        rights = conn.execute(
            "SELECT has_table_privilege('gridwatch_app', 'reports', 'INSERT'), "
            "has_table_privilege('gridwatch_app', 'audit_log', 'INSERT'), "
            "has_table_privilege('gridwatch_app', 'audit_log', 'UPDATE'), "
            "has_table_privilege('gridwatch_app', 'audit_log', 'TRUNCATE'), "
            "has_table_privilege('gridwatch_app', 'audit_checkpoints', 'DELETE'), "
            "has_schema_privilege('gridwatch_app', 'public', 'CREATE')"
        ).fetchone()
    assert owned == (0,)
    assert rights == (True, True, False, False, False, False)


def test_the_app_role_stores_a_report_but_cannot_touch_the_audit_log(
    app_url: str, db: Session
) -> None:
    two_by_two(db)
    insp = make_user(db, "insp", "inspector")
    give_duty(db, insp, UNITS[0], "member", valid_from=SINCE)
    headers = bearer(db, "insp")
    db.rollback()
    body = report_body(UNITS[0])
    with TestClient(create_app(app_url)) as client:  # the whole server, as the app role
        r = client.post("/api/v1/reports", json=body, headers=headers)
        assert r.status_code == 201, r.text
        assert client.get(f"/api/v1/reports/{body['id']}", headers=headers).status_code == 200
    assert db.scalar(select(func.count()).select_from(Report)) == 1
    with psycopg.connect(app_url, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("gridwatch_app",)
        logged = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        assert logged is not None and logged[0] >= 1
        row = conn.execute(
            r"SELECT min(substr(relname, 11)) FROM pg_class WHERE relname ~ '^audit_log_\d{4}_' "
            r"AND relnamespace = 'public'::regnamespace"
        ).fetchone()
        assert row is not None and row[0] is not None
        month = row[0]
        refused = [
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change",
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_truncate",
            "ALTER TABLE audit_log DISABLE TRIGGER ALL",
            "TRUNCATE audit_log",
            "UPDATE audit_log SET actor = 'someone else'",
            "DELETE FROM audit_log",
            "DELETE FROM audit_checkpoints",
            "DROP TABLE audit_log",
            # A month of the log by its partition's name (migration 0013): no rights there.
            f"DELETE FROM audit_log_{month}",  # noqa: S608 (a name from the catalog)
            f"TRUNCATE audit_log_{month}",
            f"ALTER TABLE audit_log_{month} DISABLE TRIGGER ALL",
            f"ALTER TABLE audit_log DETACH PARTITION audit_log_{month}",
            "CREATE TABLE shadow (id int)",
            "SET session_replication_role = replica",  # which would skip every trigger
        ]
        for statement in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    assert audit_verify.verify(db).ok
