"""Reading the CSV files the importers take: header checked, rows with their line numbers,
encoding errors named with their line and a hint; text a spreadsheet would run as a formula
recognised, so that importers can refuse it in names."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

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
        raise _utf16(source)
    try:
        text = data.decode(encoding)
    except LookupError:
        raise InputRejected(source, [f"unknown encoding {encoding!r}"]) from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _not_text(source, encoding, line, exc.reason, exc.start) from None
    text = text.removeprefix("\ufeff")  # a byte-order mark, whatever the encoding was called
    if "\x00" in text:
        raise _nul(source, text.count("\n", 0, text.index("\x00")) + 1)
    return text


def _utf16(source: str) -> InputRejected:
    return InputRejected(
        source, ["the file is UTF-16 text; save it as CSV UTF-8 or pass --encoding UTF-16"]
    )


def _not_text(source: str, encoding: str, line: int, reason: str, byte: int) -> InputRejected:
    hint = "" if encoding.lower() in ("gbk", "gb18030", "cp936") else "; try --encoding GBK"
    return InputRejected(
        source, [f"line {line}: not {encoding} text ({reason} at byte {byte}){hint}"]
    )


def _nul(source: str, line: int) -> InputRejected:
    return InputRejected(
        source, [f"line {line}: contains a NUL character (a binary file, not CSV text?)"]
    )


def detect_and_decode(source: str, data: bytes) -> tuple[str, str]:
    """(text, encoding) of a file that is UTF-8 or GBK/GB18030 — what Excel writes as "CSV
    UTF-8" and as plain "CSV" on a Chinese Windows. UTF-8 is tried first: GBK text is almost
    never valid UTF-8, while ASCII is both."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _utf16(source)
    failures: list[tuple[int, str, str]] = []  # where each encoding failed
    for encoding, label in (("utf-8-sig", "UTF-8"), ("gbk", "GBK"), ("gb18030", "GB18030")):
        try:
            data.decode(encoding)
        except UnicodeDecodeError as exc:
            failures.append((exc.start, label, exc.reason))
            continue
        return _decode(source, data, encoding), label
    # Named where the encoding that read furthest failed: most likely the file's own.
    start, label, reason = max(failures)
    line = data.count(b"\n", 0, start) + 1
    raise InputRejected(
        source,
        [
            f"line {line}: neither UTF-8 nor GBK text (as {label}: {reason} at byte {start}); "
            "save it from Excel as “CSV UTF-8” (or as .xlsx), or pass --encoding with the "
            "file's encoding"
        ],
    )


def read_csv(
    path: Path, encoding: str, columns: tuple[str, ...]
) -> list[tuple[int, dict[str, str]]]:
    """Rows as (line number, cells), header checked. Shared by the CSV importers.

    Every row is read before anything is returned: a row with more values than the header (an
    unquoted comma shifts the columns after it) or an overlong cell rejects the file."""
    source = str(path)
    text = _decode(source, read_bytes(path), encoding)
    return parse_csv(source, text, ",".join(columns), _header_check(source, columns))


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputRejected(str(path), ["file not found"]) from None
    except OSError as exc:
        raise InputRejected(str(path), [f"cannot read the file: {exc.strerror}"]) from None


def parse_csv(
    source: str, text: str, expected: str, check_header: Callable[[list[str]], list[str]]
) -> list[tuple[int, dict[str, str]]]:
    """Rows of CSV text as (line number, cells keyed by what `check_header` makes of the
    header: it names the columns, or raises InputRejected). `expected` describes the header
    for the message about an empty file."""
    if not text.strip():
        raise InputRejected(source, [f"the file is empty; expected the header {expected}"])
    return list(_rows(source, io.StringIO(text, newline=""), check_header))


def _rows(
    source: str, lines: Iterable[str], check_header: Callable[[list[str]], list[str]]
) -> Iterator[tuple[int, dict[str, str]]]:
    """`parse_csv`'s rows as they are read; a row with more values than the header or an
    overlong cell raises InputRejected (all of them named) after the last row."""
    # strict: a quote left open or followed by text is an error, not a silent merge of lines.
    reader = csv.DictReader(lines, strict=True)
    problems: list[str] = []
    line = 0  # the last line read completely
    try:
        header = check_header([h.strip() for h in (reader.fieldnames or [])])
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
            yield line, cells
    except csv.Error as exc:  # named by the line where the record that cannot be read starts
        raise InputRejected(source, [f"line {line + 1}: malformed CSV: {exc}"]) from None
    if problems:
        raise InputRejected(source, problems)


def stream_csv(
    path: Path, encoding: str, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    """`read_csv`'s rows one at a time, the file read line by line (memory bounded by a row,
    for files of millions of rows), with the same checks and messages. Every problem of the
    file's shape (an undecodable byte, a NUL, extra values, an overlong cell) raises
    InputRejected at the latest after the last row: a caller keeps nothing until the end."""
    source = str(path)
    if encoding.lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32")):
        yield from read_csv(path, encoding, columns)  # a newline byte is not a line there
        return
    try:
        codecs.getincrementaldecoder(encoding)
    except LookupError:
        raise InputRejected(source, [f"unknown encoding {encoding!r}"]) from None
    try:
        with path.open("rb") as f:
            lines = _decoded_lines(source, f, encoding)
            first = _first_lines(source, lines, ",".join(columns))
            yield from _rows(source, itertools.chain(first, lines), _header_check(source, columns))
    except FileNotFoundError:
        raise InputRejected(source, ["file not found"]) from None
    except OSError as exc:
        raise InputRejected(source, [f"cannot read the file: {exc.strerror}"]) from None


def _header_check(source: str, columns: tuple[str, ...]) -> Callable[[list[str]], list[str]]:
    def check(header: list[str]) -> list[str]:
        missing = [c for c in columns if c not in header]
        if missing:
            raise InputRejected(
                source,
                [f"line 1: missing column(s) {', '.join(missing)}; expected {','.join(columns)}"],
            )
        return header

    return check


def _first_lines(source: str, lines: Iterator[str], expected: str) -> list[str]:
    """The lines up to the first that is not blank (the csv reader reads the header from
    them); a file of blanks is empty, as `parse_csv` says."""
    head = []
    for text in lines:
        head.append(text)
        if text.strip():
            return head
    raise InputRejected(source, [f"the file is empty; expected the header {expected}"])


def _decoded_lines(source: str, f: BinaryIO, encoding: str) -> Iterator[str]:
    """The file's lines as text (newlines kept), as `_decode` would decode them: the same
    messages for a UTF-16 file, an undecodable byte, a NUL."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, number = 0, 0
    for data in f:
        if number == 0 and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise _utf16(source)
        number += 1
        try:
            text = decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise _not_text(source, encoding, number, exc.reason, offset + exc.start) from None
        if number == 1:
            text = text.removeprefix("\ufeff")  # a byte-order mark, whatever the encoding
        if "\x00" in text:
            raise _nul(source, number)
        offset += len(data)
        if "\r" in text.rstrip("\r\n"):  # a lone CR ends a line too, as for `parse_csv`
            yield from io.StringIO(text, newline="")
        else:
            yield text
    pending = len(decoder.getstate()[0])
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        byte = offset - pending + exc.start
        raise _not_text(source, encoding, number, exc.reason, byte) from None
