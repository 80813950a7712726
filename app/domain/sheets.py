"""Tables as a bureau keeps them: an Excel workbook (.xlsx) or a CSV file in UTF-8 or GBK
(detected), with Chinese or English headers and their synonyms. Read into rows of values keyed
by the importer's column names, each row with the place a user finds it at: "line N" of a
CSV file, "row N" of a worksheet, as Excel numbers them.

Values keep what the file says: text from CSV; text, numbers and dates from a workbook (so an
importer can tell a date cell from a serial number and a phone typed as a number from text).
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from app.domain.csvfile import MAX_FIELD, _decode, detect_and_decode, parse_csv, read_bytes
from app.domain.errors import InputRejected

MAX_ROWS = 100_000  # a province's roster has tens of thousands; a runaway sheet a million
MAX_SHEET_ROWS = 1_000_000  # blank ones included (Excel's own limit is 1,048,576)
MAX_COLUMNS = 64
HEADER_SEARCH_ROWS = 10  # a workbook may have a title (and a blank row) above its header
XLSX_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97–2003 .xls, old WPS .et

Value = str | int | float | datetime | date | time | bool | None


@dataclass
class Table:
    source: str
    place: str  # "line" (CSV) or "row" (a worksheet)
    rows: list[tuple[int, dict[str, Value]]]
    columns: set[str]  # the importer's names found in the header
    notes: list[str] = field(default_factory=list)  # how it was read: encoding, sheet, header

    def at(self, number: int) -> str:
        return f"{self.place} {number}"


def header_key(text: str) -> str:
    """A header as compared: no blanks, underscores or hyphens, no required-marks (*), no
    trailing remark in brackets ("手机号（必填）"), lower case: "Cell Code" is cell_code."""
    s = re.sub(r"[\s\u3000*＊_\-]+", "", text)
    s = re.sub(r"[（(][^）)]*[）)]$", "", s)
    return s.lower()


def _column_names(aliases: Mapping[str, Sequence[str]]) -> dict[str, str]:
    return {header_key(a): name for name, names in aliases.items() for a in (name, *names)}


def _missing_message(
    at: str, missing: list[str], aliases: Mapping[str, Sequence[str]], found: Sequence[str]
) -> str:
    chinese = ", ".join(aliases[m][0] for m in missing if aliases[m])
    shown = ", ".join(h for h in found if h) or "(none)"
    return (
        f"{at}: missing column(s) {', '.join(missing)} (in Chinese: {chinese}); "
        f"the header has: {shown[:300]}"
    )


def _name_columns(
    header: Sequence[str],
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    source: str,
    at: str,
) -> list[str]:
    """The importer's name for each header cell (unknown ones keep their own text and are
    ignored); the file is refused when a required column is missing or one is given twice."""
    known = _column_names(aliases)
    names: list[str] = []
    seen: dict[str, str] = {}
    problems: list[str] = []
    for text in header:
        name = known.get(header_key(text))
        if name is None:
            names.append(text)  # the user's own column (notes, a sequence number): ignored
            continue
        if name in seen:
            problems.append(
                f"{at}: the columns {seen[name]!r} and {text!r} both give {name}; keep one"
            )
        seen[name] = text
        names.append(name)
    missing = [c for c in required if c not in seen]
    if missing:
        problems.insert(0, _missing_message(at, missing, aliases, header))
    if problems:
        raise InputRejected(source, problems)
    return names


def read_table(
    path: Path,
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    encoding: str | None = None,
) -> Table:
    """The table in `path`: a workbook when the bytes are one, CSV otherwise (in `encoding`,
    or UTF-8/GBK as detected). `aliases` gives each column's accepted headers, Chinese first."""
    source = str(path)
    data = read_bytes(path)
    if data.startswith(OLE2_MAGIC):
        raise InputRejected(
            source,
            [
                "an old Excel 97–2003 workbook (.xls): open it in Excel or WPS and save it as "
                "“Excel 工作簿 (.xlsx)”, or as “CSV UTF-8”"
            ],
        )
    if data.startswith(XLSX_MAGIC):
        return _read_workbook(source, data, aliases, required)
    if encoding:
        text, notes = _decode(source, data, encoding), []
    else:
        text, detected = detect_and_decode(source, data)
        notes = [f"read as {detected} text"] if detected != "UTF-8" else []

    named: list[str] = []

    def check(header: list[str]) -> list[str]:
        named[:] = _name_columns(header, aliases, required, source, "line 1")
        return named

    rows = parse_csv(source, text, ",".join(aliases), check)
    known = set(aliases)
    return Table(
        source,
        "line",
        [(n, {k: v or None for k, v in r.items() if k in known}) for n, r in rows],
        {n for n in named if n in known},
        notes,
    )


def _cell(value: object) -> Value:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float | datetime | date | time | bool) or value is None:
        return value
    return str(value)


def _read_workbook(
    source: str, data: bytes, aliases: Mapping[str, Sequence[str]], required: Sequence[str]
) -> Table:
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no default style", unknown extensions
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a zip that is no workbook, a damaged one: all "cannot read"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputRejected(
            source, [f"not a readable Excel workbook (.xlsx): {reason[:200]}"]
        ) from None
    try:
        return _first_table(source, book, aliases, required)
    except InputRejected:
        raise
    except Exception as exc:  # a sheet's XML broken past the workbook's index
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputRejected(source, [f"cannot read the workbook: {reason[:200]}"]) from None
    finally:
        book.close()


def _first_table(
    source: str, book: object, aliases: Mapping[str, Sequence[str]], required: Sequence[str]
) -> Table:
    """The rows of the first worksheet with a header naming every required column (within
    its first rows: a title may sit above)."""
    known = _column_names(aliases)
    best: tuple[int, str, int, list[str]] | None = None  # columns known, sheet, row, header
    sheets = list(book.worksheets)  # type: ignore[attr-defined]
    for sheet in sheets:
        rows = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
        for number, values in enumerate(rows, start=1):
            if number > HEADER_SEARCH_ROWS:
                break
            header = ["" if v is None else str(v).strip() for v in values]
            score = sum(header_key(h) in known for h in header)
            if best is None or score > best[0]:
                best = (score, sheet.title, number, header)
            if all(any(known.get(header_key(h)) == c for h in header) for c in required):
                return _sheet_rows(source, sheet, number, header, aliases, required, len(sheets))
    if best is None or best[0] == 0:
        raise InputRejected(
            source,
            [
                "no worksheet has a header row with the roster's columns "
                f"({', '.join(a[0] for a in aliases.values() if a)}) in its first "
                f"{HEADER_SEARCH_ROWS} rows"
            ],
        )
    _, title, number, header = best
    at = f"sheet {title!r} row {number}" if len(sheets) > 1 else f"row {number}"
    _name_columns(header, aliases, required, source, at)  # raises, naming what is missing
    raise AssertionError("unreachable")


def _sheet_rows(
    source: str,
    sheet: object,
    header_row: int,
    header: list[str],
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    sheet_count: int,
) -> Table:
    names = _name_columns(header, aliases, required, source, f"row {header_row}")
    notes = []
    if sheet_count > 1:
        notes.append(f"read the worksheet {sheet.title!r}")  # type: ignore[attr-defined]
    if header_row > 1:
        notes.append(f"the header is row {header_row}; the rows above it were taken as a title")
    rows: list[tuple[int, dict[str, Value]]] = []
    problems: list[str] = []
    values_of = sheet.iter_rows(  # type: ignore[attr-defined]
        min_row=header_row + 1, values_only=True, max_col=MAX_COLUMNS
    )
    for number, values in enumerate(values_of, start=header_row + 1):
        if number > MAX_SHEET_ROWS:
            raise InputRejected(source, [f"the worksheet has over {MAX_SHEET_ROWS:,} rows"])
        cells = {n: _cell(v) for n, v in zip(names, values, strict=False) if n in aliases}
        if all(v is None for v in cells.values()):
            continue  # blank rows (a formatted but empty tail) are no rows
        if len(rows) == MAX_ROWS:
            raise InputRejected(
                source, [f"more than {MAX_ROWS:,} rows; split the roster into several files"]
            )
        problems += [
            f"row {number}: {k} is longer than {MAX_FIELD} characters"
            for k, v in cells.items()
            if isinstance(v, str) and len(v) > MAX_FIELD
        ]
        rows.append((number, cells))
    if problems:
        raise InputRejected(source, problems)
    return Table(source, "row", rows, {n for n in names if n in aliases}, notes)
