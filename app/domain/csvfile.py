"""Reading the CSV files the importers take: header checked, rows with their line numbers,
encoding errors named with their line and a hint; text a spreadsheet would run as a formula
recognised, so that importers can refuse it in names."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

from app.domain.errors import InputRejected
from app.domain.formulas import formula_start

MAX_FIELD = 4000  # characters in one cell; the longest column (a description) allows this


def formula_problem(column: str, value: str) -> str | None:
    """Why `value` may not be a name (it would run as a spreadsheet formula), or None.

    A name never needs to start with = + - or @; a phone number or a description may, and
    exports neutralise those instead."""
    start = formula_start(value)
    if start is None:
        return None
    return (
        f"{column} {shorten(value)!r} starts with {start!r}: a name may not start with "
        "= + - or @, nor their full-width forms (a spreadsheet would run it as a formula)"
    )


def shorten(value: str, limit: int = 60) -> str:
    """`value` cut for a message, so that a hostile cell does not flood the terminal."""
    return value if len(value) <= limit else value[:limit] + "…"


def _decode(source: str, data: bytes, encoding: str) -> str:
    """The file's text; an undecodable byte or a NUL is named by its line."""
    utf16 = encoding.lower().replace("-", "").startswith("utf16")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not utf16:
        raise InputRejected(
            source, ["the file is UTF-16 text; save it as CSV UTF-8 or pass --encoding UTF-16"]
        )
    try:
        text = data.decode(encoding)
    except LookupError:
        raise InputRejected(source, [f"unknown encoding {encoding!r}"]) from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        hint = "" if encoding.lower() in ("gbk", "gb18030", "cp936") else "; try --encoding GBK"
        raise InputRejected(
            source,
            [f"line {line}: not {encoding} text ({exc.reason} at byte {exc.start}){hint}"],
        ) from None
    text = text.removeprefix("\ufeff")  # a byte-order mark, whatever the encoding was called
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InputRejected(
            source, [f"line {line}: contains a NUL character (a binary file, not CSV text?)"]
        )
    return text


def read_csv(
    path: Path, encoding: str, columns: tuple[str, ...]
) -> list[tuple[int, dict[str, str]]]:
    """Rows as (line number, cells), header checked. Shared by the CSV importers.

    Every row is read before anything is returned: a row with more values than the header (an
    unquoted comma shifts the columns after it) or an overlong cell rejects the file."""
    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputRejected(source, ["file not found"]) from None
    except OSError as exc:
        raise InputRejected(source, [f"cannot read the file: {exc.strerror}"]) from None
    text = _decode(source, data, encoding)
    if not text.strip():
        raise InputRejected(source, [f"the file is empty; expected the header {','.join(columns)}"])
    # strict: a quote left open or followed by text is an error, not a silent merge of lines.
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[str] = []
    line = 0  # the last line read completely
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in columns if c not in header]
        if missing:
            raise InputRejected(
                source,
                [f"line 1: missing column(s) {', '.join(missing)}; expected {','.join(columns)}"],
            )
        reader.fieldnames = header
        line = reader.line_num
        for row in reader:
            line = reader.line_num
            extra = row.pop(None, None)
            if extra:
                problems.append(
                    f"line {line}: {len(header) + len(extra)} values but the header has "
                    f"{len(header)} (an unquoted comma?)"
                )
            cells = {k: (v or "").strip() for k, v in row.items() if k}
            problems += [
                f"line {line}: {k} is longer than {MAX_FIELD} characters"
                for k, v in cells.items()
                if len(v) > MAX_FIELD
            ]
            rows.append((line, cells))
    except csv.Error as exc:  # named by the line where the record that cannot be read starts
        raise InputRejected(source, [f"line {line + 1}: malformed CSV: {exc}"]) from None
    if problems:
        raise InputRejected(source, problems)
    return rows
