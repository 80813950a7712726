"""Monthly partitions of `reports`, `cell_visits` and `audit_log` (migration 0013).

Each table is range-partitioned by its time column, one partition per calendar month in UTC
(`reports_2026_11`), plus a default partition (`reports_default`) that takes rows for a month
without a partition, so an insert never fails. `ensure()` makes the partitions of the current
month and `MONTHS_AHEAD` months after it, and one for every month that has rows waiting in a
default partition (moving them in); `gridwatch migrate` and `gridwatch db partitions` run it,
as the tables' owner (the bodies: app/sql/fn_partitions.sql). docs/operations.md says how to
schedule it and how to detach old months."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

# Table → the column it is partitioned by.
PARTITIONED = {"reports": "observed_at", "cell_visits": "observed_at", "audit_log": "at"}
MONTHS_AHEAD = 3
# A partition's name: the table's, then the month or `default`.
PARTITION_NAME = re.compile(
    r"^(?:" + "|".join(PARTITIONED) + r")_(?:\d{4}_(?:0[1-9]|1[0-2])|default)$"
)

_ENSURE = text("SELECT gridwatch_partitions(CAST(:parent AS regclass), :key, :ahead)")
_COVER = text("""
    SELECT gridwatch_month_partition(CAST(:parent AS regclass), :key, m::date)
      FROM generate_series(date_trunc('month', CAST(:start AS timestamptz) AT TIME ZONE 'UTC'),
                           CAST(:end AS timestamptz) AT TIME ZONE 'UTC', interval '1 month') m
""")
_LIST = text("""
    SELECT c.relname AS partition, pg_get_expr(c.relpartbound, c.oid) AS bounds,
           c.reltuples AS estimated_rows
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = CAST(:parent AS regclass)
     ORDER BY c.relname
""")


def ensure(connection: Connection, ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make every partition the tables need and lack (see the module's doc), in the caller's
    transaction; the names made. Nothing for a table that is not partitioned."""
    made: list[str] = []
    for table, key in PARTITIONED.items():
        made += connection.scalars(_ENSURE, {"parent": table, "key": key, "ahead": ahead})
    return made


def cover(connection: Connection, start: datetime, end: datetime) -> list[str]:
    """Make the monthly partitions of every table for the months from `start` to `end` (a bulk
    load of past months: its rows then go straight to their month, not through the default
    partition); the names made."""
    made: list[str] = []
    for table, key in PARTITIONED.items():
        params = {"parent": table, "key": key, "start": start, "end": end}
        made += [name for name in connection.scalars(_COVER, params) if name is not None]
    return made


def listing(connection: Connection) -> dict[str, list[dict[str, Any]]]:
    """Each partitioned table's partitions: name, bounds, estimated rows."""
    return {
        table: [dict(r._mapping) for r in connection.execute(_LIST, {"parent": table})]
        for table in PARTITIONED
    }


def is_partition(name: str | None) -> bool:
    return name is not None and PARTITION_NAME.match(name) is not None


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's filter (migrations/env.py, tests/test_migrations.py): GeoAlchemy2's, and the
    monthly partitions are not tables of the models but of the partitioned table."""
    from geoalchemy2 import alembic_helpers

    if type_ == "table" and reflected and is_partition(name):
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))
