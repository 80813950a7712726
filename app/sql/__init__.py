"""Named SQL for heavy spatial work, kept in .sql files and loaded by name."""

from functools import cache
from importlib import resources

from sqlalchemy import TextClause, text


@cache
def load(name: str) -> TextClause:
    return text(resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8"))
