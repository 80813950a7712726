"""The `gridwatch` command (SPEC §6). Thin: parse options, open a transaction, call the
domain, print a one-line summary. Bad input exits 1 with a message naming what is wrong."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichBar
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from app import localdb
from app.config import get_settings
from app.db import make_engine, make_sessionmaker, plain_database_url
from app.domain import audit
from app.domain.accountability import verify as audit_verify
from app.domain.errors import DomainError

app = typer.Typer(
    help="gridwatch — grid supervision for pollution control (网格化监管).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="The embedded PostGIS instance (used when GRIDWATCH_DATABASE_URL is unset).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")

# No markup: what is printed quotes file names and the files' contents ("[/x]" would raise).
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(
        f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


class TerminalProgress:
    """Domain Progress shown as a rich bar on a terminal, silent otherwise."""

    def __init__(self, bar: RichBar) -> None:
        self.bar = bar
        self.task: object | None = None

    def start(self, description: str, total: int) -> None:
        self.task = self.bar.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)  # type: ignore[arg-type]


@contextmanager
def progress_bar() -> Iterator[TerminalProgress]:
    with RichBar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    ) as bar:
        yield TerminalProgress(bar)


def ensure_database() -> str:
    """The database URL; starts the embedded cluster first when no URL is configured."""
    if get_settings().database_url is None:
        try:
            localdb.start()
        except localdb.LocalDbError as exc:
            fail(str(exc))
    return plain_database_url()


def first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)


def connection_lost(exc: OperationalError) -> bool:
    """True when the server is unreachable (SQLSTATE class 08, or no SQLSTATE at all)."""
    state = getattr(exc.orig, "sqlstate", None)
    return state is None or state.startswith(("08", "57P"))


@contextmanager
def transaction() -> Iterator[Session]:
    """One transaction for the whole command: all-or-nothing."""
    engine = make_engine(ensure_database())
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            audit.act_as(session, audit.Actor(f"cli:{getpass.getuser()}"))
            yield session
    except DomainError as exc:
        fail(exc.message)
    except ProgrammingError as exc:
        if "does not exist" in str(exc.orig):
            fail(
                f"the database schema is missing or old ({first_line(exc.orig)}); "
                "run `gridwatch migrate`"
            )
        raise
    except OperationalError as exc:
        if not connection_lost(exc):
            raise
        fail(f"cannot reach the database: {first_line(exc.orig)}")
    finally:
        engine.dispose()


# --- embedded database ------------------------------------------------------------------


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


@app.command()
def migrate() -> None:
    """Upgrade the schema to the newest version (idempotent)."""
    from app.migrate import upgrade

    url = ensure_database()
    try:
        before, after = upgrade(url)
    except OperationalError as exc:
        if not connection_lost(exc):
            raise
        fail(f"cannot reach the database: {first_line(exc.orig)}")
    if before == after:
        out.print(f"schema already at {after}; nothing to do")
    else:
        out.print(f"schema migrated {before or 'empty'} → {after}")


# --- grid ----------------------------------------------------------------------------------


@app.command("import-grid")
def import_grid(
    path: Path,
    layer: Annotated[str | None, typer.Option(help="layer of a GeoPackage")] = None,
    src_crs: Annotated[
        str | None,
        typer.Option(
            help="source CRS when the file has none or it is wrong: EPSG:4547, gcj02, bd09…"
        ),
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="attribute encoding, e.g. GBK")] = None,
    code_field: str = "code",
    name_field: str = "name",
    parent_field: Annotated[
        str | None, typer.Option(help="field with the parent cell code")
    ] = None,
    level: Annotated[int | None, typer.Option(help="level of every imported cell")] = None,
    risk_field: Annotated[str | None, typer.Option(help="field with high/medium/low")] = None,
    strict: Annotated[bool, typer.Option(help="reject invalid geometries, do not repair")] = False,
) -> None:
    """Import grid cells from GeoJSON, GeoPackage or Shapefile; all or nothing."""
    from app.domain.grid.imports import GridImportOptions
    from app.domain.grid.imports import import_grid as run

    opts = GridImportOptions(
        layer=layer,
        src_crs=src_crs,
        encoding=encoding,
        code_field=code_field,
        name_field=name_field,
        parent_field=parent_field,
        level=level,
        risk_field=risk_field,
        strict=strict,
    )
    with transaction() as session, progress_bar() as bar:
        result = run(session, path, opts, bar)
    for note in result.repaired:
        err.print(f"repaired {note}", highlight=False)
    for note in result.notes:
        err.print(f"note: {note}", highlight=False)
    out.print(
        f"{path}: {result.inserted} cells added, {result.updated} updated, "
        f"{len(result.repaired)} geometries repaired",
        highlight=False,
    )


@app.command("generate-grid")
def generate_grid(
    within: Annotated[str, typer.Option(help="code of the parent cell to fill")],
    size_m: Annotated[float, typer.Option(help="cell size in metres")],
    shape: Annotated[str, typer.Option(help="square or hex")] = "square",
    risk: Annotated[str, typer.Option(help="risk class of the new cells")] = "medium",
) -> None:
    """Fill a cell with unit cells of a regular lattice, coded per GB/T 30428.1."""
    from app.domain.grid.generate import generate_grid as run

    if risk not in ("high", "medium", "low"):
        fail(f"--risk must be high, medium or low, got {risk!r}")
    with transaction() as session, progress_bar() as bar:
        n = run(session, within=within, size_m=size_m, shape=shape, risk=risk, progress=bar)
    out.print(f"{n} {shape} unit cells of {size_m:g} m generated under {within}")


@app.command("check-grid")
def check_grid(
    within: Annotated[str | None, typer.Option(help="only this cell's subtree")] = None,
    min_area_m2: Annotated[float | None, typer.Option(help="ignore smaller pieces")] = None,
) -> None:
    """List partition defects: gaps between sibling cells, overlaps, cells outside parents.
    Exits 4 when there are defects."""
    from app.domain.grid.defects import partition_defects

    with transaction() as session:
        defects = partition_defects(session, within, min_area_m2)
    for d in defects:
        cells = " × ".join(d.cells) if d.cells else "-"
        out.print(
            f"{d.kind:8} parent {d.parent_code}  cells {cells}  {d.area_m2:,.1f} m²",
            highlight=False,
        )
    kinds = {k: sum(d.kind == k for d in defects) for k in ("gap", "overlap", "outside")}
    out.print(
        f"{len(defects)} partition defects ({kinds['gap']} gaps, {kinds['overlap']} "
        f"overlaps, {kinds['outside']} outside the parent)" + (f" under {within}" if within else "")
    )
    if defects:
        raise typer.Exit(4)


# --- people --------------------------------------------------------------------------------


@app.command("import-roster")
def import_roster(
    path: Path,
    encoding: Annotated[str, typer.Option(help="file encoding, e.g. GBK")] = "utf-8-sig",
) -> None:
    """Import duty assignments (cell_code,duty,username,name,phone,valid_from,valid_to)."""
    from app.domain.people.roster import import_roster as run

    with transaction() as session, progress_bar() as bar:
        r = run(session, path, encoding, bar)
    out.print(
        f"{path}: {r.duties_added} duties added, {r.duties_updated} updated, "
        f"{r.persons_added} new persons",
        highlight=False,
    )


@app.command("import-reports")
def import_reports(
    path: Path,
    encoding: Annotated[str, typer.Option(help="file encoding, e.g. GBK")] = "utf-8-sig",
) -> None:
    """Import historical reports (id,username,lat,lon,accuracy_m,observed_at,kind,category,
    description) with the API's rules and flags, except late_sync; all or nothing."""
    from app.domain.reports.imports import import_reports as run

    with transaction() as session, progress_bar() as bar:
        r = run(session, path, encoding, bar)
    out.print(
        f"{path}: {r.added} reports added ({r.counted} counted, {r.flagged} flagged), "
        f"{r.unchanged} already present",
        highlight=False,
    )


@app.command("create-user")
def create_user(
    username: str,
    role: Annotated[
        str, typer.Option(help="inspector, leader, supervisor, command, discipline or admin")
    ],
    scope: Annotated[str | None, typer.Option(help="cell code whose subtree they see")] = None,
    name: str | None = None,
    phone: str | None = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Create or update a person with a login account.

    Updating sets the new password, enables a disabled account and ends the user's
    sessions."""
    from app.domain.people.accounts import create_or_update_user

    if not password_stdin:
        fail(
            "pass --password-stdin and the password on standard input "
            "(passwords never go on the command line)"
        )
    password = read_password()
    with transaction() as session:
        _, created = create_or_update_user(
            session,
            username=username,
            role=role,
            password=password,
            scope=scope,
            name=name,
            phone=phone,
        )
    out.print(
        f"user {username} {'created' if created else 'updated'} (role {role}"
        + (f", scope {scope}" if scope else "")
        + ")",
        highlight=False,
    )


def read_password() -> str:
    return sys.stdin.readline().rstrip("\r\n")


@app.command("set-password")
def set_password(
    username: Annotated[str, typer.Argument(help="the account's username")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the new password from standard input")
    ] = False,
) -> None:
    """Give an account a new password; every session signed in with the old one ends."""
    from app.domain.people.accounts import set_password as change_password

    if not password_stdin:
        fail(
            "pass --password-stdin and the password on standard input "
            "(passwords never go on the command line)"
        )
    password = read_password()
    with transaction() as session:
        change = change_password(session, username=username, password=password)
    out.print(change.describe("has a new password"), highlight=False)


@app.command("disable-user")
def disable_user(
    username: Annotated[str, typer.Argument(help="the account's username")],
) -> None:
    """Disable an account: it cannot sign in, and all its sessions end now.

    `create-user` with the same username enables it again."""
    from app.domain.people.accounts import disable_user as disable

    with transaction() as session:
        change = disable(session, username=username)
    out.print(change.describe("disabled"), highlight=False)


@app.command("seed-demo")
def seed_demo() -> None:
    """Load the demo city (Xinxiang urban districts): grid, roster, sources, one user per role."""
    from app.demo.seed import seed

    with transaction() as session, progress_bar() as bar:
        summary = seed(session, bar)
    out.print(summary.describe(), highlight=False)


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="the backup file to write (a tar archive)")],
) -> None:
    """Back up the database (pg_dump) and the photo store into one file with SHA-256 hashes."""
    from app.backup import backup as run_backup

    with transaction() as session:
        seq, head_hash = audit.head(session)
    try:
        summary = run_backup(ensure_database(), path, seq, head_hash)
    except DomainError as exc:
        fail(exc.message)
    out.print(
        f"backup written to {summary.path}: database {summary.database_bytes:,} bytes, "
        f"{summary.photos} photos, audit chain at entry {summary.audit_seq} "
        f"(head {summary.audit_head[:16]}…)",
        highlight=False,
    )


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
    from app.models import AuditEntry

    url = ensure_database()
    with transaction() as session:
        has_schema = session.scalar(text("SELECT to_regclass('public.cells') IS NOT NULL"))
        holds_data = has_schema and session.scalar(text("SELECT EXISTS (SELECT 1 FROM cells)"))
    if holds_data and not yes:
        fail("the database already holds data; add --yes to replace it with the backup")
    try:
        manifest = run_restore(url, path)
    except DomainError as exc:
        fail(exc.message)
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
        f"({verdict.entries} entries, head {verdict.head[:16]}…)",
        highlight=False,
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="server processes (they share sessions and limits)")
    ] = 1,
) -> None:
    """Serve the API and pages.

    Client addresses come from X-Forwarded-For only for the proxies in
    GRIDWATCH_TRUSTED_PROXIES. The signing secret is GRIDWATCH_SECRET_KEY, or the one kept in
    the data folder (generated on the first start)."""
    import uvicorn

    from app.secret import SecretFileError, signing_key
    from app.serving import server_options

    try:
        signing_key()  # generated now if need be, before any worker starts
    except SecretFileError as exc:
        fail(str(exc))
    url = ensure_database()
    out.print(
        f"serving http://{host}:{port} with {workers} worker(s); forwarded headers believed "
        f"from: {get_settings().trusted_proxies or 'nobody'}",
        highlight=False,
    )
    if workers == 1:
        from app.main import create_app

        uvicorn.run(create_app(url), **server_options(host, port))
    else:  # each worker process builds its own app (and engine) from the same settings
        uvicorn.run(
            "app.main:create_app", factory=True, workers=workers, **server_options(host, port)
        )


def main() -> None:
    app()
