"""The shapes every export shares: bilingual columns, rows (a spreadsheet's values and the
JSON's nesting), tables, and where a cell lies (district and street)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Any

from sqlalchemy import not_, select
from sqlalchemy.orm import Session

from app.domain.timeparse import local_zone
from app.models import Cell

DUTY_LABEL = {
    "leader": "网格长",
    "member": "网格员",
    "patroller": "巡查员",
    "supervisor": "监督员",
    "assignee": "承办人",  # not a duty: the person an overdue case was dispatched to
}


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: str = "text"  # text | datetime | number
    width: int = 14

    def header(self) -> str:
        return f"{self.zh} {self.en}"


@dataclass
class Row:
    values: dict[str, Any]  # by column key; datetimes are aware (UTC or local)
    nested: dict[str, Any]  # the JSON shape (e.g. `responsible` as a list)
    cell_id: int | None = None
    point: tuple[float, float] | None = None  # lon, lat for point features
    # Per-person rows derived from this row (by the table's `persons` sheet's columns).
    persons: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Sheet:
    """A further sheet of an XLSX: its title and columns; its rows come from elsewhere."""

    title_zh: str
    title_en: str
    columns: tuple[Column, ...]

    @property
    def title(self) -> str:
        return f"{self.title_zh} {self.title_en}"[:31]


class Summary(ABC):
    """Accumulates the per-person rows of a table into one row per person."""

    sheet: Sheet

    @abstractmethod
    def add(self, person_row: dict[str, Any]) -> None: ...

    @abstractmethod
    def rows(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Table:
    kind: str
    title_zh: str
    title_en: str
    columns: tuple[Column, ...]
    rows: Callable[[], Iterator[Row]]
    geometry: str  # "cell" (the cell's polygon) or "point"
    # The per-person sheet (rows from `Row.persons`) and its summary, if the table has them.
    persons: Sheet | None = None
    summary: Callable[[], Summary] | None = None


class Places:
    """District and street of each leaf cell, from its ancestors (ltree path of ids). A
    district is the deepest ancestor with a six-digit code (GB/T 2260), else level 2; a street
    the deepest with nine digits, else level 3."""

    def __init__(self, session: Session, path: str | None = None) -> None:
        """Every non-leaf cell, or (given one leaf's path) just that leaf's ancestors."""
        stmt = select(Cell.id, Cell.code, Cell.name, Cell.level).where(not_(Cell.is_leaf))
        if path is not None:
            stmt = stmt.where(Cell.id.in_([int(i) for i in path.split(".")[:-1]]))
        self.cells = {r.id: r for r in session.execute(stmt)}
        self._known: dict[str, tuple[str, str]] = {}  # by the path of the parent

    def of(self, path: str) -> tuple[str, str]:
        parent = path.rpartition(".")[0]
        found = self._known.get(parent)
        if found is None:
            ancestors = [self.cells[int(i)] for i in parent.split(".") if int(i) in self.cells]
            found = self._known[parent] = (
                self._pick(ancestors, 6, 2),
                self._pick(ancestors, 9, 3),
            )
        return found

    @staticmethod
    def _pick(ancestors: list[Any], digits: int, level: int) -> str:
        by_code = [a for a in ancestors if len(a.code) == digits and a.code.isdigit()]
        if by_code:
            return str(by_code[-1].name)
        by_level = [a for a in ancestors if a.level == level]
        return str(by_level[-1].name) if by_level else ""


def local_text(t: Any) -> str:
    """An instant as local wall-clock text (GRIDWATCH_TIMEZONE), minutes."""
    return _local_text(t, local_zone()) if t else ""


@lru_cache(maxsize=1 << 12)  # a lapse's ends repeat on every person on duty through it
def _local_text(t: datetime, zone: tzinfo) -> str:
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def duty_label(duty: str, lang: str) -> str:
    return DUTY_LABEL.get(duty, duty) if lang == "zh" else duty


def person_text(duty: Any, name: Any, phone: Any, username: Any, lang: str) -> str:
    return f"{duty_label(duty, lang)} {name} {phone or '-'} ({username})"


# Where a row's cell lies: every export starts (or nearly) with these.
PLACE_COLUMNS = (
    Column("cell_code", "网格编码", "Cell code", width=18),
    Column("cell_name", "网格名称", "Cell name", width=22),
    Column("district", "区县", "District", width=12),
    Column("street", "街道乡镇", "Street", width=14),
)
