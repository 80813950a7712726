"""Issue 19 in Chromium: the administrator uploads a roster with two faulty rows on
/admin/import, sees both named with what to do, fixes the file, previews it again and
confirms; the persons and duties are there, and nothing was written before."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, text

from app.db import make_engine, make_sessionmaker
from app.models import Cell, Duty, Person
from tests.browser.conftest import Server, Watched, sign_in

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/gridwatch-screenshots")
XSS = "<img src=x onerror=alert(1)>"


def roster(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["网格编码", "岗位", "姓名", "手机号", "起始日期", "结束日期"])
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def tally(database_url: str, names: list[str]) -> tuple[int, int]:
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        persons = session.scalar(
            select(func.count()).select_from(Person).where(Person.name.in_(names))
        )
        duties = session.scalar(
            select(func.count())
            .select_from(Duty)
            .join(Person, Duty.person_id == Person.id)
            .where(Person.name.in_(names))
        )
    engine.dispose()
    return persons or 0, duties or 0


def leaf_codes(database_url: str, n: int) -> list[str]:
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        codes = list(
            session.scalars(select(Cell.code).where(Cell.is_leaf).order_by(Cell.code).limit(n))
        )
    engine.dispose()
    return codes


def test_admin_sees_both_faulty_rows_fixes_the_file_and_confirms(
    watched: Watched, live_server: Server, database_url: str, tmp_path: Path
) -> None:
    page = watched.page
    codes = leaf_codes(database_url, 3)
    names = ["周建华", "吴秀英", XSS]
    good = [
        [codes[0], "网格长", names[0], "13700000001", "2025/1/1", None],
        [codes[1], "网格员", names[1], "13700000002", "2025/1/1", None],
    ]
    faulty = roster(
        tmp_path / "名单.xlsx",
        [
            *good,
            [codes[2], "组长", names[2], "13700000003", "2025/1/1", None],
            [codes[2], "巡查员", names[2], "1.37E+10", "2025/1/1", None],
        ],
    )
    SHOTS.mkdir(exist_ok=True)

    sign_in(page, live_server, "/admin/import", "admin", "demo-admin-2026")
    page.wait_for_selector("[data-testid=import-file]")
    page.get_by_test_id("import-file").set_input_files(faulty)

    problems = page.get_by_test_id("import-problems").locator("li")
    problems.first.wait_for()
    assert problems.count() == 2
    assert (
        problems.nth(0)
        .inner_text()
        .startswith(
            "row 4: duty '组长' is not one of leader, member, patroller, supervisor (网格长"
        )
    )
    second = problems.nth(1).inner_text()
    assert second.startswith("row 5: phone '1.37E+10' is in scientific notation")
    assert "设置单元格格式 › 文本" in second  # the fix, in words
    assert page.get_by_test_id("import-confirm").is_disabled()
    assert page.get_by_test_id("import-preview").is_visible()
    page.screenshot(path=str(SHOTS / "import-problems.png"), full_page=True)
    assert tally(database_url, names) == (0, 0)

    fixed = roster(
        tmp_path / "名单-改.xlsx",
        [
            *good,
            [codes[2], "网格员", names[2], "13700000003", "2025/1/1", None],
            [codes[2], "巡查员", names[2], "13700000003", "2025/1/1", None],
        ],
    )
    page.get_by_test_id("import-file").set_input_files(fixed)
    page.wait_for_function("() => !document.getElementById('confirm').disabled")
    assert problems.count() == 0
    page.wait_for_selector("#map .leaflet-overlay-pane canvas")  # the file's cells on a map
    assert page.inner_text("#shown") == "地图显示 3 / 3 个网格"
    preview = page.get_by_test_id("import-preview")
    assert preview.locator("dd[data-count=persons_added]").inner_text() == "3"
    assert preview.locator("dd[data-count=duties_added]").inner_text() == "4"
    page.screenshot(path=str(SHOTS / "import-preview.png"), full_page=True)
    assert tally(database_url, names) == (0, 0)

    page.get_by_test_id("import-confirm").click()
    result = page.get_by_test_id("import-result")
    result.locator("dd[data-count=duties_added]").wait_for()
    assert "导入完成" in result.inner_text()
    assert result.locator("dd[data-count=persons_added]").inner_text() == "3"
    page.screenshot(path=str(SHOTS / "import-done.png"), full_page=True)
    assert tally(database_url, names) == (3, 4)
    assert watched.errors == [] and watched.dialogs == []  # the name stayed text
    assert watched.hosts == {live_server.host}

    engine = make_engine(database_url)
    with engine.connect() as conn:
        action = conn.scalar(
            text("SELECT action FROM audit_log WHERE actor = 'admin' ORDER BY seq DESC LIMIT 1")
        )
    engine.dispose()
    assert action == "roster.import"


def test_the_page_in_english(watched: Watched, live_server: Server) -> None:
    page = watched.page
    sign_in(page, live_server, "/admin/import", "admin", "demo-admin-2026")
    page.wait_for_selector("[data-testid=import-file]")
    page.goto(live_server.url + "/admin/import?lang=en")
    assert "Import · grid and roster" in page.inner_text("header")
    assert watched.errors == []
