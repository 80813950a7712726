"""Monthly partitions: `reports` and `cell_visits` by `observed_at`, `audit_log` by `at`
(declarative range partitioning: a gap-free run of UTC months between a `_before` and an
`_after` edge partition; app/sql/partitions.py, app/sql/fn_partitions.sql, docs/scale.md).
Every row is copied into the partitioned table, with the same ids, each month that holds rows
getting its partition, then the old table goes.

A partitioned table's primary key must hold the partition key, so `reports.id` (the client's
UUID) is kept unique across all months by `report_keys` (id primary key, with the report's
`observed_at`): intake claims the id there first, `reports (id, observed_at)` references it,
and the tables that point at a report (photos, cell_visits, hotspots, hotspot_events) point
at `report_keys.id`. `audit_log.seq` stays unique because only the chain's head hands it out
(app/domain/audit.py), under its row lock.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection, text

from app.sql import partitions, source

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables and the column each is partitioned by, with the column(s) that were its key.
TABLES = (
    ("reports", "observed_at", "id"),
    ("cell_visits", "observed_at", "id"),
    ("audit_log", "at", "seq"),
)
assert {t: k for t, k, _ in TABLES} == partitions.PARTITIONED
# Foreign keys that point at a report: (table, column).
REFERRING = (
    ("photos", "report_id"),
    ("cell_visits", "report_id"),
    ("hotspots", "report_id"),
    ("hotspots", "evidence_report_id"),
    ("hotspot_events", "evidence_report_id"),
)
AUDIT_GUARDS = """
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
"""

# The table's own indexes (not those of its constraints) and its foreign keys, as SQL.
_INDEXES = text("""
    SELECT i.relname AS name, pg_get_indexdef(i.oid) AS definition
      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
     WHERE x.indrelid = CAST(:table AS regclass)
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid
                                                       AND c.conrelid = x.indrelid)
     ORDER BY i.relname
""")
_FOREIGN_KEYS = text("""
    SELECT conname AS name, pg_get_constraintdef(oid) AS definition
      FROM pg_constraint
     WHERE conrelid = CAST(:table AS regclass) AND contype = 'f'
       AND conname <> 'fk_reports_id_report_keys'
     ORDER BY conname
""")


def _run(conn: Connection, sql: str, **params: object) -> None:
    conn.execute(text(sql), params)


def _rebuild(conn: Connection, table: str, key: str, pk: str, partitioned: bool) -> None:
    """`table` made again, partitioned by `key` or not, with the same columns, checks, indexes,
    foreign keys and rows; the primary key (pk, key) or (pk)."""
    old = f"{table}_{'unpartitioned' if partitioned else 'partitioned'}"
    indexes = conn.execute(_INDEXES, {"table": table}).all()
    foreign_keys = conn.execute(_FOREIGN_KEYS, {"table": table}).all()
    sequence = conn.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table, "c": pk})
    _run(conn, f"ALTER TABLE {table} RENAME TO {old}")
    for index in indexes:
        _run(conn, f"DROP INDEX {index.name}")
    _run(conn, f"ALTER TABLE {old} DROP CONSTRAINT pk_{table}")
    if sequence:
        _run(conn, f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    how = f" PARTITION BY RANGE ({key})" if partitioned else ""
    _run(
        conn,
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        f"INCLUDING STORAGE){how}",
    )
    columns = f"{pk}, {key}" if partitioned else pk
    _run(conn, f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({columns})")
    if table == "audit_log":  # before the partitions: they take its TRUNCATE guard
        _run(conn, AUDIT_GUARDS)
    if partitioned:  # its months, from the oldest that holds rows, and the two edges
        since = conn.scalar(text(f"SELECT min({key}) FROM {old}"))  # noqa: S608 (our names)
        partitions.ensure_table(conn, table, since=since)
    _run(conn, f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608 (our names)
    for index in indexes:  # a partitioned table's prints as `ON ONLY` (it alone): on all
        _run(conn, index.definition.replace(" ON ONLY ", " ON ", 1))
    for fk in foreign_keys:
        _run(conn, f"ALTER TABLE {table} ADD CONSTRAINT {fk.name} {fk.definition}")
    _run(conn, f"DROP TABLE {old}")
    if sequence:
        _run(conn, f"ALTER SEQUENCE {sequence} OWNED BY {table}.{pk}")


def _point_at(conn: Connection, target: str) -> None:
    """The foreign keys of REFERRING at `target` (report_keys or reports) instead."""
    before = "reports" if target == "report_keys" else "report_keys"
    for table, column in REFERRING:
        _run(conn, f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_{column}_{before}")
        _run(
            conn,
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_{column}_{target} "
            f"FOREIGN KEY ({column}) REFERENCES {target} (id)",
        )


def upgrade() -> None:
    conn = op.get_bind()
    conn.execute(text(source("fn_partitions")))
    _run(
        conn,
        """
        CREATE TABLE report_keys (
            id uuid NOT NULL,
            observed_at timestamptz NOT NULL,
            CONSTRAINT pk_report_keys PRIMARY KEY (id),
            CONSTRAINT uq_report_keys_id_observed_at UNIQUE (id, observed_at)
        );
        INSERT INTO report_keys (id, observed_at) SELECT id, observed_at FROM reports;
        """,
    )
    _point_at(conn, "report_keys")
    for table, key, pk in TABLES:
        _rebuild(conn, table, key, pk, partitioned=True)
    _run(
        conn,
        "ALTER TABLE reports ADD CONSTRAINT fk_reports_id_report_keys "
        "FOREIGN KEY (id, observed_at) REFERENCES report_keys (id, observed_at)",
    )
    conn.execute(text(source("trg_cell_visits")))  # its triggers went with the old table


def downgrade() -> None:
    conn = op.get_bind()
    for table, key, pk in TABLES:
        _rebuild(conn, table, key, pk, partitioned=False)
    _point_at(conn, "reports")
    _run(conn, "DROP TABLE report_keys")
    conn.execute(text(source("trg_cell_visits")))
