"""The `gridwatch` command (SPEC §6). Thin: parse options, open a transaction, call the
domain, print a one-line summary. Bad input exits 1 with a message naming what is wrong.

One module per group of commands; importing them registers their commands on `app`."""

from app.cli import database, evidence, imports, notify, people, plans, run
from app.cli.common import app, ensure_database

__all__ = [
    "app",
    "database",
    "ensure_database",
    "evidence",
    "imports",
    "main",
    "notify",
    "people",
    "plans",
    "run",
]


def main() -> None:
    app()
