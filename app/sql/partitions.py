"""Monthly partitions of `reports`, `cell_visits` and `audit_log` (migration 0013).

Each table is range-partitioned by its time column: a run of calendar months in UTC with no
gap (`reports_2026_11`) and two edge partitions that take any other instant
(`reports_before`, `reports_after`), so an insert never fails (app/sql/fn_partitions.sql says
why edges rather than a default partition). `ensure()` lengthens the run to `MONTHS_AHEAD`
months after the current one and back to the oldest month with rows waiting in the `_before`
edge (moving them in); `gridwatch migrate` and `gridwatch db partitions` run it, as the
tables' owner. docs/operations.md says how to schedule it and how to detach old months."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, text

# Table → the column it is partitioned by.
PARTITIONED = {"reports": "observed_at", "cell_visits": "observed_at", "audit_log": "at"}
MONTHS_AHEAD = 3
# No month before this one gets a partition of its own: older rows (a clock reset to 1970)
# stay in the `_before` edge.
OLDEST_MONTH = date(2000, 1, 1)
# A partition's name: the table's, then the month or the edge.
PARTITION_NAME = re.compile(
    r"^(?:" + "|".join(PARTITIONED) + r")_(?:\d{4}_(?:0[1-9]|1[0-2])|before|after)$"
)

_ENSURE = text("""
    SELECT gridwatch_partitions(
        CAST(:parent AS regclass), :key, :ahead, :oldest,
        CAST(date_trunc('month', CAST(:since AS timestamptz) AT TIME ZONE 'UTC') AS date))
""")
_LIST = text("""
    SELECT c.relname AS partition, pg_get_expr(c.relpartbound, c.oid) AS bounds,
           c.reltuples AS estimated_rows
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = CAST(:parent AS regclass)
     ORDER BY c.relname
""")


def ensure(
    connection: Connection, ahead: int = MONTHS_AHEAD, since: datetime | None = None
) -> list[str]:
    """Make every partition the tables need and lack (see the module's doc), and those back
    to the month of `since` (a bulk load of past months: its rows then go straight to their
    month, not through the `_before` edge), in the caller's transaction; the names made.
    Nothing for a table that is not partitioned."""
    return [name for table in PARTITIONED for name in ensure_table(connection, table, ahead, since)]


def ensure_table(
    connection: Connection, table: str, ahead: int = MONTHS_AHEAD, since: datetime | None = None
) -> list[str]:
    """`ensure` for one table (migration 0013 partitions each before copying its rows in)."""
    params = {
        "parent": table,
        "key": PARTITIONED[table],
        "ahead": ahead,
        "oldest": OLDEST_MONTH,
        "since": since,
    }
    return list(connection.scalars(_ENSURE, params))


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
