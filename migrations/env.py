"""Alembic environment: online migrations only, with GeoAlchemy2's helpers so autogenerate
emits `import geoalchemy2` and never tries to drop PostGIS's own tables."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import Connection

from app.db import make_engine
from app.models import Base
from app.sql.partitions import include_object

target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = context.config.attributes.get("database_url")
    engine = make_engine(url)
    with engine.connect() as conn:
        run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("gridwatch migrations run online only: `gridwatch migrate`")
run_migrations_online()
