"""Export files neutralise text a spreadsheet would run as a formula (issue 15, finding 11):
whatever blanks come first, in full-width form too, and behind a leading tab, CR or LF — in
CSV with a leading quote, in XLSX with the quote prefix — while number columns stay numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from app.domain.accountability.exportfile import Meta, write
from app.domain.accountability.exports import Column, Row, Table
from app.domain.csvfile import formula_problem

HOSTILE = [
    "=1+1",
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    " =1+1",  # a leading space
    "   @SUM(A1)",
    "\u3000=1+1",  # an ideographic (full-width) space
    "\u00a0+1",  # a no-break space
    "＝1+1",  # full-width equals sign
    "＋1",
    "－1",
    "＠SUM(A1)",
    "  ＝HYPERLINK(1)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "\nplain text after a line feed",
    "\tplain text after a tab",
]
HARMLESS = ["东区=西区", "a+b", "3-2", " text", "", "（＝）", "电话 -0373"]
# Fixed instants: the file's own metadata, not compared with the clock.
META = Meta(
    period_from=datetime(2026, 1, 1, tzinfo=UTC),
    period_to=datetime(2026, 2, 1, tzinfo=UTC),
    scope="test",
    generated_at=datetime(2026, 2, 1, tzinfo=UTC),
    generated_by="tester",
    audit_head="0" * 64,
    audit_seq=0,
)


def table(texts: list[str], numbers: list[float]) -> Table:
    def rows() -> Iterator[Row]:
        for text, number in zip(texts, numbers, strict=True):
            values = {"text": text, "number": number}
            yield Row(values=values, nested=values)

    return Table(
        kind="test",
        title_zh="测试",
        title_en="Test",
        columns=(Column("text", "文本", "Text"), Column("number", "数", "Number", kind="number")),
        rows=rows,
        geometry="point",
    )


def exported(fmt: str, texts: list[str], numbers: list[float] | None = None) -> bytes:
    out = io.BytesIO()
    t = table(texts, numbers if numbers is not None else [0.0] * len(texts))
    write(None, t, fmt, META, out)  # type: ignore[arg-type]  # no session: CSV and XLSX only
    return out.getvalue()


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))[1:]


@pytest.mark.parametrize("value", HOSTILE)
def test_csv_neutralises_text_a_spreadsheet_would_run(value: str) -> None:
    [[text, _]] = csv_rows(exported("csv", [value]))
    assert text == "'" + value


@pytest.mark.parametrize("value", HOSTILE)
def test_xlsx_stores_text_a_spreadsheet_would_run_with_the_quote_prefix(value: str) -> None:
    sheet = load_workbook(io.BytesIO(exported("xlsx", [value]))).worksheets[0]
    cell = sheet.cell(2, 1)
    # XML reads a bare CR back as LF.
    assert cell.data_type == "s" and cell.value == value.replace("\r", "\n")
    assert cell.quotePrefix is True


def test_harmless_text_is_written_as_it_is() -> None:
    assert [row[0] for row in csv_rows(exported("csv", HARMLESS))] == HARMLESS
    sheet = load_workbook(io.BytesIO(exported("xlsx", HARMLESS))).worksheets[0]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.value or "" for c in cells] == HARMLESS
    assert not any(c.quotePrefix for c in cells)


def test_number_columns_stay_numbers() -> None:
    numbers = [-3.5, -12.0, 0.25]
    texts = ["a", "b", "c"]
    assert [row[1] for row in csv_rows(exported("csv", texts, numbers))] == [
        "-3.5",
        "-12.0",
        "0.25",
    ]
    sheet = load_workbook(io.BytesIO(exported("xlsx", texts, numbers))).worksheets[0]
    cells = [row[1] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == numbers
    assert all(c.data_type == "n" and not c.quotePrefix for c in cells)


@pytest.mark.parametrize("name", ["＝东区", "＋1", "－西区", "＠SUM(1)", "=东区", " @x"])
def test_imported_names_are_refused_by_the_same_rule(name: str) -> None:
    problem = formula_problem("name", name)
    assert problem is not None and problem.startswith(f"name {name!r} starts with ")
    assert formula_problem("name", "东区＝西区") is None
