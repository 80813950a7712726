"""Alembic upgrade to head, then the parts of the database that follow the code rather than a
revision: the functions and triggers of app/sql/ (re-created from their files, so a fix to
one reaches every database at its next `gridwatch migrate`) and the rule values they read
(app/rules.py, written and the summaries rebuilt when they changed), and the grants of the
non-owner role `gridwatch_app` the server connects as in production (app/sql/app_role.sql,
so tables added by later migrations are granted too). Used by `gridwatch
migrate`, the tests and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from app.config import PROJECT_ROOT
from app.db import make_engine
from app.domain.status import keep_rules_in_step
from app.sql import definitions, partitions, source


def alembic_config(url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["database_url"] = url
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@dataclass(frozen=True)
class Migrated:
    before: str | None  # revision
    after: str | None
    functions: list[str]  # functions and triggers whose definition changed
    rules_changed: bool  # the rule values changed, and the summaries were rebuilt
    partitions: list[str]  # monthly partitions made (app/sql/partitions.py)


def migrate(url: str) -> Migrated:
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        command.upgrade(alembic_config(url), "head")
        with Session(engine) as session, session.begin():
            connection = session.connection()
            before_install = definitions.installed(connection)
            definitions.install(connection)
            functions = definitions.changed(before_install, definitions.installed(connection))
            rules_changed = keep_rules_in_step(session)
            made = partitions.ensure(connection)
            grant_app_role(connection)
        return Migrated(before, current_revision(engine), functions, rules_changed, made)
    finally:
        engine.dispose()


def grant_app_role(connection: Connection) -> None:
    """Create `gridwatch_app` if need be and give it row rights only (app/sql/app_role.sql):
    after migrations, and after a restore (backups carry no grants: a role named in them may
    not exist on the server restored to)."""
    connection.exec_driver_sql(source("app_role"))


def upgrade(url: str) -> tuple[str | None, str | None]:
    """Returns (revision before, revision after)."""
    done = migrate(url)
    return done.before, done.after
