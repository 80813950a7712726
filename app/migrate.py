"""Alembic upgrade to head, used by `gridwatch migrate` and the tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from app.config import PROJECT_ROOT
from app.db import make_engine


def alembic_config(url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["database_url"] = url
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str) -> tuple[str | None, str | None]:
    """Returns (revision before, revision after)."""
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        command.upgrade(alembic_config(url), "head")
        return before, current_revision(engine)
    finally:
        engine.dispose()
