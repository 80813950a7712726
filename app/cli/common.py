"""What every command shares: the typer apps, consoles, errors that exit, progress bars,
the database (started when embedded) and a transaction that maps domain errors to messages."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

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
