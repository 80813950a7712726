"""Named SQL for heavy spatial work, kept in .sql files and loaded by name.

A file whose first line is `-- include: NAME` is appended to NAME.sql (a shared CTE chain)."""

from functools import cache
from importlib import resources

from sqlalchemy import TextClause, text

INCLUDE = "-- include: "


def source(name: str) -> str:
    body = resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
    first, _, rest = body.partition("\n")
    if first.startswith(INCLUDE):
        return source(first.removeprefix(INCLUDE).strip()) + rest
    return body


@cache
def load(name: str) -> TextClause:
    return text(source(name))
