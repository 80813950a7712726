"""`gridwatch db …`, `migrate`, `backup` and `restore`: the database and its safekeeping."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from app import localdb
from app.cli.common import (
    app,
    connection_lost,
    db_app,
    ensure_database,
    fail,
    first_line,
    out,
    transaction,
)
from app.config import get_settings
from app.db import direct_database_url, plain_database_url
from app.domain import audit
from app.domain.accountability import verify as audit_verify
from app.domain.errors import DomainError
from app.domain.status import keep_rules_in_step
from app.sql import partitions


@db_app.command("start")
def db_start() -> None:
    """Create (first time) and start the embedded PostGIS cluster."""
    try:
        c = localdb.start()
    except localdb.LocalDbError as exc:
        fail(str(exc))
    out.print(f"embedded PostGIS running at {c.url()} (data {c.root})", highlight=False)


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster."""
    try:
        stopped = localdb.stop()
    except localdb.LocalDbError as exc:
        fail(str(exc))
    out.print("embedded PostGIS stopped" if stopped else "embedded PostGIS was not running")


@db_app.command("status")
def db_status() -> None:
    """Where the embedded cluster lives and whether it runs (exit 3 when stopped)."""
    configured = get_settings().database_url
    if configured:
        out.print(
            "GRIDWATCH_DATABASE_URL is set; the embedded cluster is not used", highlight=False
        )
    try:
        info = localdb.status()
    except localdb.LocalDbError as exc:
        fail(str(exc))
    state = "running" if info["running"] else ("stopped" if info["created"] else "not created")
    out.print(
        f"embedded PostGIS {state}: data {info['root']}, port {info['port']}, "
        f"runs as {info['run_as']}, log {info['log']}",
        highlight=False,
    )
    if not info["running"]:
        raise typer.Exit(3)


@db_app.command("url")
def db_url() -> None:
    """Print the database URL every command uses."""
    try:
        print(plain_database_url())
    except localdb.LocalDbError as exc:
        fail(str(exc))


@db_app.command("partitions")
def db_partitions(
    ahead: Annotated[
        int, typer.Option(min=0, max=120, help="months after the current one to make ahead")
    ] = partitions.MONTHS_AHEAD,
    show: Annotated[bool, typer.Option("--list", help="then list every partition")] = False,
) -> None:
    """Make the monthly partitions of reports, cell_visits and audit_log that are due: up to
    --ahead months after the current one, and back to the oldest month with rows waiting in
    the `_before` edge partition (moved in). Run it as the tables' owner, e.g. monthly from
    cron; `migrate` runs it too."""
    try:
        with transaction() as session:
            made = partitions.ensure(session.connection(), ahead)
            listed = partitions.listing(session.connection()) if show else {}
    except ProgrammingError as exc:
        if "permission denied" not in str(exc.orig) and "must be owner" not in str(exc.orig):
            raise
        fail(f"{first_line(exc.orig)}: run it as the tables' owner (as `gridwatch migrate`)")
    out.print(f"partitions made: {', '.join(made)}" if made else "no partition was due")
    for table, rows in listed.items():
        for row in rows:
            rows_now = max(row["estimated_rows"], 0)  # -1: never analysed
            out.print(
                f"{table}: {row['partition']} {row['bounds']} (~{rows_now:,.0f} rows)",
                highlight=False,
            )


@app.command()
def migrate() -> None:
    """Upgrade the schema to the newest version, re-create the database's functions from
    app/sql/ and write the rule values they read (idempotent)."""
    from app.migrate import migrate as run_migrate

    url = ensure_database()
    try:
        done = run_migrate(url)
    except OperationalError as exc:
        if not connection_lost(exc):
            raise
        fail(f"cannot reach the database: {first_line(exc.orig)}")
    notes = [f"functions re-created: {', '.join(done.functions)}"] if done.functions else []
    if done.rules_changed:
        notes.append("rule values written from the settings, summaries rebuilt")
    if done.partitions:
        notes.append(f"partitions made: {', '.join(done.partitions)}")
    if done.before == done.after and not notes:
        out.print(f"schema already at {done.after}; nothing to do")
    elif done.before == done.after:
        out.print(f"schema already at {done.after}; " + "; ".join(notes), highlight=False)
    else:
        out.print(
            "; ".join([f"schema migrated {done.before or 'empty'} → {done.after}", *notes]),
            highlight=False,
        )


# --- grid ----------------------------------------------------------------------------------


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="the backup file to write (a tar archive)")],
) -> None:
    """Back up the database (pg_dump) and the photo store into one file with SHA-256 hashes."""
    from app.backup import backup as run_backup

    with transaction() as session:
        seq, head_hash = audit.head(session)
    try:
        summary = run_backup(direct_database_url(ensure_database()), path, seq, head_hash)
    except DomainError as exc:
        fail(exc.message)
    except ValueError as exc:
        fail(str(exc))
    out.print(
        f"backup written to {summary.path}: database {summary.database_bytes:,} bytes, "
        f"{summary.photos} photos, audit chain at entry {summary.audit_seq} "
        f"(head {summary.audit_head[:16]}…)",
        highlight=False,
    )


@app.command("check-photos")
def check_photos(
    hashes: Annotated[
        bool, typer.Option("--hashes", help="also read every original and check its SHA-256")
    ] = False,
) -> None:
    """Check that the photo store (directory or bucket) holds every photo the database names;
    exit 1 when one is missing or damaged."""
    from app.domain.reports.photocheck import check_photos as run_check
    from app.domain.reports.photostore import photo_store

    store = photo_store()
    try:
        with transaction() as session:
            found = run_check(session, store, hashes=hashes)
    except DomainError as exc:
        fail(exc.message)
    for key in found.missing:
        out.print(f"missing: {key}", highlight=False)
    for key in found.damaged:
        out.print(f"damaged: {key}", highlight=False)
    summary = (
        f"{store.kind} photo store: {found.photos} originals named by the database, "
        f"{len(found.missing)} missing, {len(found.damaged)} damaged"
        + ("" if hashes else " (hashes not read)")
        + f", {len(found.unreferenced)} without a photo row"
    )
    if not found.ok:
        fail(summary)
    out.print(summary, highlight=False)


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(help="a file written by `gridwatch backup`")],
    yes: Annotated[
        bool, typer.Option("--yes", help="replace a database that already holds data")
    ] = False,
) -> None:
    """Restore a backup: the database in one transaction, then the photos; the audit chain
    is verified afterwards."""
    from sqlalchemy import select, text

    from app.backup import restore as run_restore
    from app.migrate import grant_app_role
    from app.models import AuditEntry

    url = ensure_database()
    with transaction() as session:
        has_schema = session.scalar(text("SELECT to_regclass('public.cells') IS NOT NULL"))
        holds_data = has_schema and session.scalar(text("SELECT EXISTS (SELECT 1 FROM cells)"))
    if holds_data and not yes:
        fail("the database already holds data; add --yes to replace it with the backup")
    try:
        manifest = run_restore(direct_database_url(url), path)
    except DomainError as exc:
        fail(exc.message)
    except ValueError as exc:
        fail(str(exc))
    with transaction() as session:
        # A backup holds the summaries and rule values of the server that made it: when its
        # settings were other than this one's, recompute them with these.
        rebuilt = keep_rules_in_step(session)
        grant_app_role(session.connection())  # the app role's rights (not in the backup)
    with transaction() as session:
        verdict = audit_verify.verify(session, full=True)
        recorded = session.scalar(
            select(AuditEntry.hash).where(AuditEntry.seq == manifest["audit_seq"])
        )
    if not verdict.ok:
        fail(
            f"restored, but the audit chain does not verify: entry {verdict.first_broken}: "
            f"{verdict.problem}"
        )
    if manifest["audit_seq"] and recorded != manifest["audit_head"]:
        fail("restored, but the audit chain differs from the one the backup recorded")
    out.print(
        f"restored {path}: {len(manifest['photos'])} photos, audit chain verified "
        f"({verdict.entries} entries, head {verdict.head[:16]}…)"
        + ("; rule values differed from this server's: summaries rebuilt" if rebuilt else ""),
        highlight=False,
    )
