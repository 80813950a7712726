"""The demo city for tests that need a whole city (browser pages, the schema fuzzer).

Seeding it takes tens of seconds; several test modules need it. The first module in the run
that needs it seeds it for real (`app.demo.seed.seed`) and keeps a copy of every table in the
schema `demo_snapshot` of the same database, dumped for the run's other test processes, which
load it instead of seeding; later modules copy those rows back in a second or two.
The copy is taken right after seeding, so a restored city is exactly what seeding wrote —
only minutes older, which the demo's relative dates (hours and days back) do not notice.
`tests/cli/test_accounts_and_demo.py` still tests the seeding itself, from empty.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from app.backup import libpq_url, pg_tool
from app.db import direct_database_url
from app.demo.seed import ANALYZED, seed
from tests.testrun import locked, run_path

SNAPSHOT = "demo_snapshot"
# The schema's own rows, which `upgrade` writes and tests never empty (tests/conftest.py).
KEPT = ("spatial_ref_sys", "alembic_version", "gridwatch_rules")
_taken: set[str] = set()  # databases (by URL) whose snapshot this process took


def _tables(conn: Connection) -> list[str]:
    return list(
        conn.scalars(
            text(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                "AND relkind IN ('r', 'p') AND NOT relispartition "  # partitions: in their table
                "AND relname <> ALL(:kept) ORDER BY relname"
            ),
            {"kept": list(KEPT)},
        )
    )


def _take(conn: Connection) -> None:
    conn.execute(text(f"DROP SCHEMA IF EXISTS {SNAPSHOT} CASCADE"))
    conn.execute(text(f"CREATE SCHEMA {SNAPSHOT}"))
    for table in _tables(conn):
        conn.execute(text(f"CREATE TABLE {SNAPSHOT}.{table} AS TABLE public.{table}"))
    conn.execute(
        text(
            f"CREATE TABLE {SNAPSHOT}.sequences AS SELECT schemaname || '.' || sequencename "  # noqa: S608 (names are ours)
            "AS name, last_value FROM pg_sequences WHERE schemaname = 'public'"
        )
    )


def _restore(conn: Connection) -> None:
    tables = _tables(conn)
    # Replica mode: no trigger fires (the audit log's append-only guards, the summaries'
    # upkeep) — the rows are copied back exactly as seeding left them.
    conn.execute(text("SET LOCAL session_replication_role = replica"))
    conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    for table in tables:
        conn.execute(
            text(
                f"INSERT INTO public.{table} OVERRIDING SYSTEM VALUE "  # noqa: S608 (catalog names)
                f"SELECT * FROM {SNAPSHOT}.{table}"
            )
        )
    conn.execute(
        text(
            f"SELECT setval(name, last_value) FROM {SNAPSHOT}.sequences "  # noqa: S608 (ours)
            "WHERE last_value IS NOT NULL"
        )
    )
    for table in ANALYZED:
        conn.execute(text(f"ANALYZE {table}"))


def _run(tool: str, engine: Engine, *args: str) -> None:
    """pg_dump or pg_restore on the engine's database (behind a pooler, the server itself),
    found and given the URL as `gridwatch backup` does."""
    url, env = libpq_url(direct_database_url(engine.url.render_as_string(hide_password=False)))
    subprocess.run(
        [pg_tool(tool), f"--dbname={url}", "--no-owner", *args],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )


def _dump(engine: Engine, path: Path) -> None:
    _run("pg_dump", engine, "--format=custom", "--schema", SNAPSHOT, "--file", str(path))


def _load(engine: Engine, path: Path) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SNAPSHOT} CASCADE"))
    _run("pg_restore", engine, "--exit-on-error", str(path))


def seed_demo_city(engine: Engine) -> None:
    """The demo city in the (empty) test database: seeded once in the run, by whichever test
    process needs it first, whose snapshot the others load (pg_dump/pg_restore of the
    snapshot schema, seconds instead of a seeding each); copied back from the snapshot in
    this database afterwards."""
    key = engine.url.render_as_string(hide_password=False)
    if key not in _taken:
        dump = run_path("demo-snapshot.dump")
        with locked("demo-snapshot"):
            if dump.exists():
                _load(engine, dump)
            else:
                with Session(engine) as session, session.begin():
                    seed(session)
                with engine.begin() as conn:
                    _take(conn)
                _dump(engine, dump)
                _taken.add(key)
                return
        _taken.add(key)
    with engine.begin() as conn:
        _restore(conn)
