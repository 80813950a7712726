"""The database's own functions and triggers: their bodies live in the files FILES names, here
in app/sql/, and are (re)created from them — by migration 0009, and again by every
`gridwatch migrate` once the migrations have run (app/migrate.py), so that a later fix to a
file reaches databases installed before it, not only new ones. A file is replayable:
`CREATE OR REPLACE FUNCTION` and `CREATE OR REPLACE TRIGGER` only.

`installed()` reads them back as PostgreSQL prints them; `drift()` says which differ from what
the files make (tests/test_migrations.py holds the database to it)."""

from __future__ import annotations

from sqlalchemy import Connection, text

from app.sql import source

# In dependency order: the clock and the rule values first, the triggers last.
FILES = (
    "fn_clock",
    "fn_partitions",
    "fn_rules",
    "fn_lock_cells",
    "fn_refresh_staff",
    "fn_refresh_missed",
    "fn_refresh_inspection",
    "fn_refresh_rollup",
    "trg_duties",
    "trg_hotspots",
    "trg_cell_visits",
    "trg_sources",
    "trg_rollup",
)
PREFIX = "gridwatch_"  # every function these files define is named so

_FUNCTIONS = text("""
    SELECT p.oid::regprocedure::text AS name, pg_get_functiondef(p.oid) AS definition
      FROM pg_proc p
     WHERE p.pronamespace = current_schema()::regnamespace
       AND starts_with(p.proname, :prefix)
""")
_TRIGGERS = text("""
    SELECT t.tgname || ' ON ' || t.tgrelid::regclass::text AS name,
           pg_get_triggerdef(t.oid) AS definition
      FROM pg_trigger t
      JOIN pg_proc p ON p.oid = t.tgfoid
     WHERE NOT t.tgisinternal
       AND p.pronamespace = current_schema()::regnamespace
       AND starts_with(p.proname, :prefix)
""")


def install(connection: Connection) -> None:
    """(Re)create every function and trigger from the files, in the caller's transaction."""
    for name in FILES:
        connection.execute(text(source(name)))


def installed(connection: Connection) -> dict[str, str]:
    """Every gridwatch function and every trigger that runs one, by name, as the database
    prints its definition (pg_get_functiondef, pg_get_triggerdef)."""
    found: dict[str, str] = {}
    for query in (_FUNCTIONS, _TRIGGERS):
        found |= {r.name: r.definition for r in connection.execute(query, {"prefix": PREFIX})}
    return found


_DROP_ALL = text("""
    DO $$
    DECLARE f regprocedure;
    BEGIN
        FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
                  WHERE p.pronamespace = current_schema()::regnamespace
                    AND starts_with(p.proname, 'gridwatch_') LOOP
            EXECUTE format('DROP FUNCTION %s CASCADE', f);
        END LOOP;
    END $$
""")


def drift(connection: Connection) -> list[str]:
    """The functions and triggers whose installed definition is not what the files make, and
    those no file makes. Builds them from the files alone inside a savepoint (every gridwatch
    function dropped, with its triggers, then the files run) and rolls it back: nothing
    changes, but the locks that took are held until the caller's transaction ends."""
    before = installed(connection)
    savepoint = connection.begin_nested()
    try:
        connection.execute(_DROP_ALL)
        install(connection)
        made = installed(connection)
    finally:
        savepoint.rollback()
    return changed(before, made)


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The names whose definition differs between two readings of `installed()`."""
    names = before.keys() | after.keys()
    return sorted(name for name in names if before.get(name) != after.get(name))
