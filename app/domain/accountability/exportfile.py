"""Write an export `Table` to a file: JSON, CSV (UTF-8 with BOM), XLSX or GeoJSON.

Rows stream from the table's generator straight into the file (XLSX through the streaming
writer of app/domain/xlsxstream.py), so memory stays flat whatever the size. Text that a
spreadsheet would run as a formula (app/domain/formulas.py: `=` `+` `-` `@` or their
full-width forms as the first non-blank character, or a leading tab, CR or LF) is
neutralised: in CSV with a leading `'`, in XLSX by storing it as a string with the
quote-prefix style. Number columns stay numbers.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import IO, Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy.orm import Session

from app.domain.accountability.exports import cell_shapes
from app.domain.accountability.tables import Column, Row, Table
from app.domain.accountability.tables import Sheet as TableSheet
from app.domain.formulas import formula_start
from app.domain.timeparse import local_zone
from app.domain.xlsxstream import (
    SHORT_TEXT,
    Sheet,
    Workbook,
    datetime_fragment,
    text_fragment,
)

FORMATS = {
    "json": ("application/json", "json"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "geojson": ("application/geo+json", "geojson"),
}
GEOMETRY_BATCH = 500
SPOOL_BYTES = 8 * 1024 * 1024  # an export or dossier is built in memory up to this, then on disk


@dataclass
class Meta:
    """What the file says about itself (XLSX second sheet, JSON/GeoJSON top level)."""

    period_from: datetime
    period_to: datetime
    scope: str
    generated_at: datetime
    generated_by: str
    audit_head: str
    audit_seq: int
    author_name: str = ""
    author_unit: str = ""
    min_hours: float | None = None  # the tolerance applied (accountability), else None
    software: str = ""
    method: list[tuple[str, str]] = field(default_factory=list)  # (label, text) pairs


def _period(meta: Meta, zone: Any) -> list[tuple[str, Any]]:
    """The period a file covers, or the one instant it shows (a gap list)."""
    start = meta.period_from.astimezone(zone).replace(tzinfo=None)
    if meta.period_from == meta.period_to:
        return [("时点 As of", start)]
    end = meta.period_to.astimezone(zone).replace(tzinfo=None)
    return [("统计期间起 From", start), ("统计期间止 To", end)]


def safe_text(value: str) -> str:
    return "'" + value if formula_start(value) else value


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_iso)


class HashingWriter(io.RawIOBase):
    """A binary sink that hashes and counts what passes through to `target`."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        b = bytes(data)
        self.sha256.update(b)
        self.size += len(b)
        self.target.write(b)
        return len(b)


def write(
    session: Session, table: Table, fmt: str, meta: Meta, out: Any, *, by_person: bool = False
) -> int:
    """Write the table to `out` in `fmt`; returns the number of rows. `by_person` (CSV): the
    table's per-person rows instead of its own."""
    if fmt == "csv":
        return _csv(per_person(table) if by_person else table, out, meta.min_hours)
    if fmt == "xlsx":
        return _xlsx(table, meta, out)
    if fmt == "geojson":
        return _geojson(session, table, meta, out)
    return _json(table, meta, out)


def _meta_json(table: Table, meta: Meta) -> dict[str, Any]:
    return {
        "kind": table.kind,
        "from": meta.period_from,
        "to": meta.period_to,
        "scope": meta.scope,
        "generated_at": meta.generated_at,
        "generated_by": meta.generated_by,
        "audit_head": meta.audit_head,
        "audit_seq": meta.audit_seq,
        "generated_by_name": meta.author_name,
        "generated_by_unit": meta.author_unit,
        "min_hours": meta.min_hours,
        "software": meta.software,
        "method": [{"rule": label, "text": text} for label, text in meta.method],
    }


def per_person(table: Table) -> Table:
    """The table whose rows are `table`'s per-person rows (the accountability's by person)."""
    if table.persons is None:
        raise ValueError(f"{table.kind} has no per-person rows")
    sheet = table.persons

    def rows() -> Iterator[Row]:
        for row in table.rows():
            for person in row.persons:
                yield Row(person, person, row.cell_id)

    return Table(
        f"{table.kind}-by-person", sheet.title_zh, sheet.title_en, sheet.columns, rows, "cell"
    )


def _json(table: Table, meta: Meta, out: IO[bytes]) -> int:
    head = _dump(_meta_json(table, meta))[:-1]
    key = {"accountability": "lapses", "missed-problems": "hotspots"}.get(table.kind, "reports")
    out.write(f'{head}, "{key}": ['.encode())
    n = 0
    for row in table.rows():
        out.write(((",\n" if n else "\n") + _dump(row.nested)).encode())
        n += 1
    out.write(b"\n]}\n")
    return n


# A CSV has no About sheet: the tolerance applied (accountability) is a column on every row,
# so it stays with the rows however they are filtered, sorted or copied.
TOLERANCE = Column(
    "min_hours", "容差(小时，短于此的失职未列入)", "Tolerance min_hours (shorter lapses left out)"
)


def _csv(table: Table, out: IO[bytes], min_hours: float | None = None) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    w = csv.writer(text)
    stated = [] if min_hours is None else [min_hours]
    w.writerow([c.header() for c in table.columns] + ([TOLERANCE.header()] if stated else []))
    n = 0
    for row in table.rows():
        w.writerow([_csv_value(row.values[c.key], c.kind) for c in table.columns] + stated)
        n += 1
    text.flush()
    text.detach()
    return n


def _csv_value(value: Any, kind: str) -> Any:
    if value is None:
        return ""
    if kind == "datetime":
        return value.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")
    if kind == "number":
        return value
    return safe_text(str(value))


def _sheet(wb: Workbook, title: str, columns: tuple[Column, ...]) -> Sheet:
    """A sheet with widths and a frozen bold header; filter set by `_filter`."""
    ws = wb.add_sheet(title, [c.width for c in columns], freeze_header=True)
    ws.append([(i, c.header(), "header") for i, c in enumerate(columns)])
    return ws


def _filter(ws: Sheet, columns: tuple[Column, ...]) -> None:
    """An autofilter over the header and the rows: sort and filter in Excel/WPS."""
    ws.autofilter(len(columns))


def _xlsx(table: Table, meta: Meta, out: IO[bytes]) -> int:
    """XLSX through the streaming writer (app/domain/xlsxstream.py): each sheet's rows go
    to a temporary file as they come, the package is zipped at the end."""
    wb = Workbook(out)
    ws = _sheet(wb, f"{table.title_zh} {table.title_en}"[:31], table.columns)  # bilingual
    persons: TableSheet | None = table.persons
    people = _sheet(wb, persons.title, persons.columns) if persons else ws
    summary = table.summary() if table.summary else None
    totals = _sheet(wb, summary.sheet.title, summary.sheet.columns) if summary else ws
    zone = local_zone()
    columns = _converters(table.columns, _CELL)
    person_columns = _converters(persons.columns, _PLAIN) if persons else []
    n = 0
    try:
        for row in table.rows():
            values = row.values
            ws.append(_cells(values, columns, zone))
            n += 1
            if persons is not None:
                for person in row.persons:
                    people.append(_cells(person, person_columns, zone))
                    if summary is not None:
                        summary.add(person)
        _filter(ws, table.columns)
        if persons is not None:
            _filter(people, persons.columns)
        if summary is not None:
            totals_columns = _converters(summary.sheet.columns, _CELL)
            for values in summary.rows():
                totals.append(_cells(values, totals_columns, zone))
            _filter(totals, summary.sheet.columns)
        if meta.method:
            _pairs(wb.add_sheet("方法 Method", [28, 90]), [(k, v) for k, v in meta.method])
        _pairs(
            wb.add_sheet("说明 About", [28, 90]),
            [
                ("导出内容 Export", f"{table.title_zh} {table.title_en}"),
                *_period(meta, zone),
                ("范围 Scope", meta.scope),
                ("生成时间 Generated at", meta.generated_at.astimezone(zone).replace(tzinfo=None)),
                ("生成人 Generated by", meta.generated_by),
                ("生成人姓名 Author", meta.author_name),
                ("生成人单位 Author's unit", meta.author_unit),
                ("记录数 Rows", n),
                ("容差(小时) Tolerance min_hours", meta.min_hours),
                ("审计链序号 Audit chain seq", meta.audit_seq),
                ("审计链头哈希 Audit chain head (SHA-256)", meta.audit_head),
                (
                    "本文件的审计记录 This file's audit entry",
                    "紧接上述链头之后追加，记录本文件的 SHA-256（文件无法包含自身的哈希）。核验："
                    "gridwatch verify-export 文件，或 POST /api/v1/exports/verify。 Appended after "
                    "the head above with this file's SHA-256 (a file cannot hold its own hash). "
                    "Verify: gridwatch verify-export FILE, or POST /api/v1/exports/verify.",
                ),
                ("软件版本 Software", meta.software),
                ("时区 Time zone", str(zone)),
            ],
        )
    except BaseException:
        wb.discard()
        raise
    wb.close()
    return n


Converters = list[tuple[int, str, Callable[[Any, Any], "Cell"]]]


def _converters(columns: tuple[Column, ...], kinds: dict[str, Any]) -> Converters:
    return [(i, c.key, kinds[c.kind]) for i, c in enumerate(columns)]


def _cells(values: dict[str, Any], columns: Converters, zone: Any) -> list[tuple[Any, ...]]:
    """One row's cells: (column, value, style) by each column's converter."""
    return [(i, *convert(values[key], zone)) for i, key, convert in columns]


def _pairs(sheet: Sheet, pairs: list[tuple[str, Any]]) -> None:
    """A two-column sheet of labels and values."""
    for label, value in pairs:
        if value is None or value == "":
            continue
        if isinstance(value, str):
            cell = _text(value, "\n" in value or len(value) > 90)
        elif isinstance(value, datetime):
            cell = (value, "seconds")
        else:
            cell = (value, "plain")
        sheet.append([(0, label, "plain"), (1, *cell)])


Cell = tuple[Any, str]  # a value and its style (app/domain/xlsxstream.py:STYLES)
NOTHING: Cell = (None, "plain")


def _text(value: str, wrap: bool) -> Cell:
    """Text that stays text, stored as a string (never a formula); text that looks like a
    formula gets Excel's quote prefix (shown as typed, never run), so the cell reads exactly
    like the JSON. Empty text is an empty cell."""
    if len(value) <= SHORT_TEXT:
        return _short_text(value, wrap)
    return _text_of(value, wrap)


def _text_of(value: str, wrap: bool) -> Cell:
    if not value:
        return NOTHING
    if formula_start(value):
        style = "quoted_wrap" if wrap else "quoted"
    else:
        style = "wrap" if wrap else "plain"
    return text_fragment(clean_text(value), style), style


# Names, codes, posts and units repeat row after row: the recent ones are looked at once.
_short_text = lru_cache(maxsize=1 << 12)(_text_of)


@lru_cache(maxsize=1 << 12)  # a lapse's start and end repeat on each of its person rows
def _local_datetime(value: datetime, zone: Any, style: str) -> Cell:
    # Excel has no time zones: local wall-clock time, as the reader expects.
    local = value.astimezone(zone).replace(tzinfo=None, microsecond=0)
    return datetime_fragment(local, style), style


def _datetime(style: str) -> Callable[[Any, Any], Cell]:
    def convert(value: Any, zone: Any) -> Cell:
        return NOTHING if value is None else _local_datetime(value, zone, style)

    return convert


def _number(value: Any, zone: Any) -> Cell:
    return (value, "plain") if value is None or not isinstance(value, str) else _text(value, False)


def _cell_text(value: Any, zone: Any) -> Cell:
    if value is None:
        return NOTHING
    text = str(value)
    return _text(text, "\n" in text)


def _plain_text(value: Any, zone: Any) -> Cell:
    """The per-person sheet's text: never wrapped."""
    return NOTHING if value is None else _text(str(value), False)


# How a value of each column kind becomes a cell: the main and summary sheets, and the
# per-person sheet (datetimes in seconds, text unwrapped — as it has always been).
_CELL: dict[str, Callable[[Any, Any], Cell]] = {
    "datetime": _datetime("minutes"),
    "number": _number,
    "text": _cell_text,
}
_PLAIN: dict[str, Callable[[Any, Any], Cell]] = {
    "datetime": _datetime("plain_datetime"),
    "number": _number,
    "text": _plain_text,
}


def clean_text(value: str) -> str:
    """Characters XML cannot hold become U+FFFD; a CR becomes the LF an XML reader would have
    made of it (a CR LF one LF)."""
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)


def _geojson(session: Session, table: Table, meta: Meta, out: IO[bytes]) -> int:
    head = _dump(_meta_json(table, meta))[:-1]
    out.write(f'{{"type": "FeatureCollection", "meta": {head}}}, "features": ['.encode())
    n = 0
    for batch in _batches(table.rows()):
        shapes = (
            cell_shapes(session, sorted({r.cell_id for r in batch if r.cell_id is not None}))
            if table.geometry == "cell"
            else {}
        )
        for row in batch:
            if table.geometry == "cell" and row.cell_id in shapes:
                geometry = shapes[row.cell_id]
            elif row.point is not None:
                geometry = _dump({"type": "Point", "coordinates": list(row.point)})
            else:
                geometry = "null"
            feature = (
                f'{{"type": "Feature", "geometry": {geometry}, "properties": {_dump(row.nested)}}}'
            )
            out.write(((",\n" if n else "\n") + feature).encode())
            n += 1
    out.write(b"\n]}\n")
    return n


def _batches(rows: Iterator[Row]) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= GEOMETRY_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
