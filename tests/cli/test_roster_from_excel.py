"""Issue 19: a roster as a Chinese bureau keeps it — an Excel workbook or a GBK CSV, Chinese
headers with a title row above, Excel dates, Chinese duty names, no usernames — imports with no
flag beyond the file; what Excel has damaged (scientific notation, lost leading zeros) is
refused with the fix in words."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.grid.cells import NewCell
from app.models import Duty, Person
from tests.cli.helpers import run_cli
from tests.cli.test_hostile_files import counts, refused
from tests.factories import UNITS, X0, Y0, make_cells, make_user, square, two_by_two

SHANGHAI = ZoneInfo("Asia/Shanghai")
HEADER = ["序号", "网格编码", "岗位", "姓名", "手机号", "起始日期", "结束日期"]
# What a bureau's sheet holds: a sequence number of its own, codes and phones as numbers,
# dates as date cells, serials and text.
ROWS: list[list[object]] = [
    [1, 410702001001001, "网格长", "王建国", 13900000001, datetime(2025, 1, 1), None],
    [2, 410702001001001, "网格员", "李芳", 13900000002, 45658, "2025/12/31"],
    [3, "410702001001002", "巡查员", "李芳", "13900000002", "2025-1-1", None],
    [4, "410702001001003", "监督员", "赵敏", "+86 139 0000 0003", "2025年1月1日", None],
]


def xlsx(path: Path, rows: list[list[object]], header: list[str] = HEADER) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "网格人员"
    sheet.append(["红旗区网格化监管人员名单（2025年）"])  # a title row above the header
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def csv_file(
    path: Path, rows: list[list[object]], encoding: str, header: list[str] = HEADER
) -> Path:
    """What Excel writes as CSV: dates as it shows them (2025/1/1), numbers as shown."""

    def shown(v: object) -> str:
        if isinstance(v, datetime):
            return f"{v.year}/{v.month}/{v.day}"
        return "" if v is None else str(v)

    lines = [",".join(header)] + [",".join(shown(v) for v in row) for row in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


WRITERS: dict[str, Callable[[Path, list[list[object]]], Path]] = {
    "xlsx": lambda p, rows: xlsx(p.with_suffix(".xlsx"), rows),
    "gbk-csv": lambda p, rows: csv_file(p.with_suffix(".csv"), rows, "gbk"),
    "utf8-csv": lambda p, rows: csv_file(p.with_suffix(".csv"), rows, "utf-8-sig"),
}


@pytest.fixture
def grid(db: Session) -> None:
    two_by_two(db)


def local_midnight(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=SHANGHAI)


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_bureau_roster_imports_with_no_flags(
    tmp_path: Path, db: Session, grid: None, kind: str
) -> None:
    path = WRITERS[kind](tmp_path / "名单", ROWS)

    result = run_cli("import-roster", path)

    assert result.exit_code == 0, result.output
    assert "4 duties added, 0 updated, 3 new persons" in result.output
    persons = {p.name: p for p in db.scalars(select(Person))}
    # Known by phone: the username is the phone's digits (without +86).
    assert {n: p.username for n, p in persons.items()} == {
        "王建国": "13900000001",
        "李芳": "13900000002",
        "赵敏": "13900000003",
    }
    assert {n: p.role for n, p in persons.items()} == {
        "王建国": "leader",
        "李芳": "inspector",
        "赵敏": "inspector",
    }
    duties = {
        (d.cell.code, d.person.name, d.duty): (d.valid_from, d.valid_to)
        for d in db.scalars(select(Duty))
    }
    start = local_midnight(2025, 1, 1)
    assert duties == {
        (UNITS[0], "王建国", "leader"): (start, None),
        (UNITS[0], "李芳", "member"): (start, local_midnight(2025, 12, 31)),
        (UNITS[1], "李芳", "patroller"): (start, None),
        (UNITS[2], "赵敏", "supervisor"): (start, None),
    }

    # The same file again finds the same people: nothing new.
    again = run_cli("import-roster", path)
    assert again.exit_code == 0, again.output
    assert "0 duties added, 0 updated, 0 new persons" in again.output


def test_english_synonyms_and_a_person_known_by_phone_already(
    tmp_path: Path, db: Session, grid: None
) -> None:
    """A person created before (with a username of their own) is found by the phone."""
    wang = make_user(db, "wangjg", "inspector")
    wang.phone = "139-0000-0001"
    db.commit()
    header = ["Cell Code", "Duty", "Name", "Mobile", "Start date", "End date"]
    rows: list[list[object]] = [[UNITS[0], "Leader", "王建国", "13900000001", "2025-01-01", ""]]
    path = csv_file(tmp_path / "en.csv", rows, "utf-8", header=header)

    result = run_cli("import-roster", path)

    assert result.exit_code == 0, result.output
    assert "1 duties added, 0 updated, 0 new persons, 1 became leaders" in result.output
    db.expire_all()
    duty = db.scalars(select(Duty)).one()
    assert duty.person.username == "wangjg" and duty.person.role == "leader"


@pytest.mark.parametrize("kind", ["xlsx", "gbk-csv"])
def test_faults_are_named_by_line_with_the_accepted_words(
    tmp_path: Path, db: Session, grid: None, kind: str
) -> None:
    rows: list[list[object]] = [
        *ROWS,
        [5, UNITS[3], "组长", "钱七", "13900000007", "2025/1/1", None],
        [6, UNITS[3], "网格员", "孙八", "13900000008", "2025/2/30", None],
        [7, UNITS[3], "网格员", "李芳芳", "13900000002", "2025/1/1", None],
    ]
    path = WRITERS[kind](tmp_path / "bad", rows)
    place = "row" if kind == "xlsx" else "line"
    first = 7 if kind == "xlsx" else 6  # the title row sits above the workbook's header
    before = counts(db)

    refused(
        run_cli("import-roster", path),
        path,
        f"{place} {first}: duty '组长' is not one of leader, member, patroller, supervisor "
        "(网格长, 网格员, 巡查员, 监督员)",
        f"{place} {first + 1}: valid_from '2025/2/30' is not an ISO-8601 date or date-time, nor "
        "a date such as 2025/1/1",
        f"{place} {first + 2}: phone 13900000002 is on {place} {first - 3} with the name 李芳, "
        "here 李芳芳: one phone is one person",
    )
    assert counts(db) == before


def test_excel_damage_is_refused_with_the_fix(tmp_path: Path, db: Session) -> None:
    two_by_two(db)
    make_cells(db, NewCell("0101001", "零号网格", 5, None, square(X0 + 0.1, Y0)))
    rows: list[list[object]] = [
        [1, "4.10702E+14", "网格员", "李芳", "13900000002", "2025/1/1", None],
        [2, UNITS[0], "网格员", "王五", "1.39E+10", "2025/1/1", None],
        [3, UNITS[0], "网格员", "赵六", "3731234567", "2025/1/1", None],
        [4, "101001", "网格员", "孙七", "13900000007", "2025/1/1", None],
        [5, "410702001001001.0", "网格员", "周八", "13900000008", "2025/1/1", None],
    ]
    path = csv_file(tmp_path / "excel.csv", rows, "gbk")
    before = counts(db)

    refused(
        run_cli("import-roster", path),
        path,
        "line 2: cell_code '4.10702E+14' is in scientific notation: Excel showed a long number "
        "shortened",
        "format the column as Text (设置单元格格式 › 文本)",
        "line 3: phone '1.39E+10' is in scientific notation",
        "line 4: phone 3731234567 looks like a landline that lost its leading 0",
        "line 5: no cell with code '101001'; the grid has 0101001: Excel dropped the leading zeros",
        "line 6: cell_code '410702001001001.0' ends in .0",
    )
    assert counts(db) == before


def test_workbook_numbers_beyond_15_digits_and_decimals_are_refused(
    tmp_path: Path, db: Session, grid: None
) -> None:
    rows: list[list[object]] = [
        [1, 4107020010010010000, "网格员", "李芳", 13900000002, date(2025, 1, 1), None],
        [2, UNITS[0], "网格员", "王五", 1390000.5, date(2025, 1, 1), None],
    ]
    path = xlsx(tmp_path / "digits.xlsx", rows)

    refused(
        run_cli("import-roster", path),
        path,
        "row 3: cell_code 41070200100100",  # as the float that stores it
        "is stored as a number of 19 digits; Excel keeps only 15, so the last ones are lost",
        "row 4: phone 1390000.5 is a number with decimals",
    )


def test_files_that_are_no_roster(tmp_path: Path, db: Session, grid: None) -> None:
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    refused(run_cli("import-roster", xls), xls, "an old Excel 97–2003 workbook (.xls)")

    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"PK\x03\x04" + bytes(100))
    refused(run_cli("import-roster", fake), fake, "not a readable Excel workbook (.xlsx)")

    torn = xlsx(tmp_path / "torn.xlsx", ROWS)  # a worksheet's XML cut off
    with zipfile.ZipFile(torn) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet][: len(parts[sheet]) // 2]
    with zipfile.ZipFile(torn, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    refused(run_cli("import-roster", torn), torn, "cannot read the workbook")

    latin = tmp_path / "latin.csv"
    latin.write_bytes(",".join(HEADER).encode("gbk") + b"\r\n1,x,caf\xe9,y\r\n")  # Latin-1
    refused(
        run_cli("import-roster", latin),
        latin,
        "line 2: neither UTF-8 nor GBK text",
        "save it from Excel as “CSV UTF-8”",
    )

    other = xlsx(tmp_path / "other.xlsx", [[1, 2, 3]], header=["编号", "地址", "备注"])
    refused(
        run_cli("import-roster", other),
        other,
        "no worksheet has a header row with the roster's columns (网格编码, 岗位, 用户名, 姓名",
    )
    missing = xlsx(tmp_path / "missing.xlsx", [[1, UNITS[0]]], header=["序号", "网格编码", "姓名"])
    refused(
        run_cli("import-roster", missing),
        missing,
        "row 2: missing column(s) duty, phone, valid_from (in Chinese: 岗位, 手机号, 起始日期)",
    )


def test_without_usernames_a_phone_is_needed(tmp_path: Path, db: Session, grid: None) -> None:
    rows: list[list[object]] = [[1, UNITS[0], "网格员", "李芳", None, "2025/1/1", None]]
    path = xlsx(tmp_path / "nophone.xlsx", rows)
    refused(
        run_cli("import-roster", path),
        path,
        "row 3: empty phone: without a 用户名 (username) column a person is known by the phone",
    )
