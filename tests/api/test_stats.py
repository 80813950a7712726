"""Rankings and the monthly bulletin: indicators by street and grid leader against the month
before, their CSV and XLSX downloads (the same rows), and the bulletin as JSON, XLSX and PDF.
The clock is moved: October's patrols are filed in October, the ranking is read in November."""

import csv
import io
import subprocess
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Cell, Duty
from tests.factories import (
    PASSWORD,
    UNITS,
    Field,
    give_duty,
    hotspot_body,
    make_user,
    report_body,
    staffed_field,
)

LOCAL = ZoneInfo("Asia/Shanghai")
OCTOBER = {"from": "2026-10-01", "to": "2026-11-01"}
READ_AT = datetime(2026, 11, 10, 9, 0, tzinfo=LOCAL)


@pytest.fixture
def field(client: TestClient, db: Session, time_machine: time_machine.TimeMachineFixture) -> Field:
    """UNITS[0] patrolled every two days through October (never in September); an inspection
    case in UNITS[1] found on 5 October, dispatched with a deadline of 8 October and never
    rectified: overdue, and missed by the grid."""
    time_machine.move_to(datetime(2026, 9, 1, 9, 0, tzinfo=LOCAL))
    f = staffed_field(client, db)
    when = datetime(2026, 10, 1, 10, 0, tzinfo=LOCAL)
    while when < datetime(2026, 11, 1, tzinfo=LOCAL):
        time_machine.move_to(when + timedelta(minutes=5))
        f = Field(client, db)  # a token of this day: the clock jumped past the last one
        r = f.client.post(
            "/api/v1/reports",
            headers=f.headers("insp"),
            json=report_body(UNITS[0], observed_at=when.isoformat()),
        )
        assert r.status_code == 201, r.text
        when += timedelta(days=2)
    time_machine.move_to(datetime(2026, 10, 5, 11, 0, tzinfo=LOCAL))
    f = Field(client, db)
    r = f.client.post("/api/v1/hotspots", headers=f.headers("sup"), json=hotspot_body(UNITS[1]))
    assert r.status_code == 201, r.text
    case = r.json()["id"]
    for step in (
        {"to": "accepted"},
        {"to": "dispatched", "assignee": "insp", "deadline": "2026-10-08T18:00:00+08:00"},
    ):
        r = f.client.post(
            f"/api/v1/hotspots/{case}/transitions", headers=f.headers("sup"), json=step
        )
        assert r.status_code == 200, r.text
    time_machine.move_to(READ_AT)
    return Field(client, db)


def get(field: Field, path: str, user: str = "sup", **params: str):
    return field.client.get(path, params=params, headers=field.headers(user))


def test_streets_rank_with_the_previous_month_and_the_change(field: Field) -> None:
    r = get(field, "/api/v1/indicators", **OCTOBER, by="street", compare="previous")
    assert r.status_code == 200, r.text
    body = r.json()
    # Whole months compare with the whole month before, not the 31 days before.
    assert body["previous"]["from"].startswith("2026-09-01T00:00:00+08:00")
    [street] = body["rows"]
    assert street["code"] == "410702001" and street["name"] == "西街街道"
    # One cell of four patrolled (72 h cell, every 48 h) from 1 October 10:00 on.
    assert street["patrol_met_rate"] == pytest.approx(0.25, abs=0.01)
    assert street["previous"]["patrol_met_rate"] == 0.0
    assert street["change"]["patrol_met_rate"] == pytest.approx(street["patrol_met_rate"])
    assert street["counts"]["missed"] == 1
    plain = get(field, "/api/v1/indicators", **OCTOBER, by="street").json()
    assert "previous" not in plain and "change" not in plain["rows"][0]


def test_grid_leaders_answer_for_the_cells_they_led(field: Field) -> None:
    rows = get(field, "/api/v1/indicators", **OCTOBER, by="leader").json()["rows"]
    assert [r["username"] for r in rows] == ["boss"]  # insp is a member, not a leader
    boss = rows[0]
    assert boss["counts"]["filed"] == 16 and boss["counts"]["counted"] == 16
    assert boss["patrol_met_rate"] == pytest.approx(0.5, abs=0.01)  # one of two cells met
    assert boss["counts"]["missed"] == 1 and boss["counts"]["due"] == 1


def test_a_leader_rotation_splits_the_month_between_the_two_leaders(field: Field) -> None:
    handover = datetime(2026, 10, 16, tzinfo=LOCAL)
    held = field.db.scalar(
        select(Duty)
        .join(Cell, Cell.id == Duty.cell_id)
        .where(Cell.code == UNITS[0], Duty.duty == "leader")
    )
    assert held is not None
    held.valid_to = handover
    field.db.commit()
    give_duty(field.db, make_user(field.db, "boss2", "leader"), UNITS[0], "leader", handover)
    rows = {
        r["username"]: r
        for r in get(field, "/api/v1/indicators", **OCTOBER, by="leader").json()["rows"]
    }
    assert set(rows) == {"boss", "boss2"}
    # Patrols every other day from 1 October: eight before the handover, eight after.
    assert rows["boss"]["counts"]["filed"] == 8 and rows["boss2"]["counts"]["filed"] == 8
    assert rows["boss2"]["counts"]["duty_hours"] == pytest.approx(16 * 24, abs=0.01)
    assert rows["boss2"]["patrol_met_rate"] == 1.0  # UNITS[0] was patrolled on time throughout
    assert rows["boss"]["counts"]["duty_hours"] == pytest.approx((15 + 31) * 24, abs=0.01)


def test_csv_and_xlsx_downloads_hold_the_rows_of_the_json(field: Field) -> None:
    params = {**OCTOBER, "by": "leader", "compare": "previous"}
    rows = get(field, "/api/v1/indicators", **params).json()["rows"]
    r = get(field, "/api/v1/indicators", **params, format="csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it with Chinese intact
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:4] == [
        "排名 rank",
        "用户名 username",
        "网格长 grid leader",
        "巡查达标率(%) patrol requirement met (%)",
    ]
    assert [row[1] for row in table[1:]] == [x["username"] for x in rows]
    assert float(table[1][3]) == pytest.approx(rows[0]["patrol_met_rate"] * 100, abs=0.05)

    r = get(field, "/api/v1/indicators", **params, format="xlsx")
    assert r.status_code == 200, r.text
    assert r.headers["x-content-sha256"]
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    values = list(sheet.values)
    assert values[0][2] == "网格长 grid leader"
    assert [v[1] for v in values[1:]] == [x["username"] for x in rows]


def test_the_bulletin_has_headline_numbers_worst_units_overdue_and_missed_cases(
    field: Field,
) -> None:
    r = get(field, "/api/v1/bulletin", month="2026-10", format="json")
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["month"] == "2026-10" and b["headline"]["unit_cells"] == 4
    assert b["headline"]["overdue_hotspots"] == 1 and b["headline"]["missed_hotspots"] == 1
    assert b["headline"]["hotspots_found"] == 1
    assert b["worst"]["rows"][0]["name"] == "西街街道"  # no communities here: streets
    [overdue] = b["overdue"]
    assert overdue["cell_code"] == UNITS[1] and overdue["overdue_at_end"] is True
    # Overdue from 8 October 18:00 to the end of the month.
    assert overdue["overdue_hours"] == pytest.approx(23 * 24 + 6, abs=0.1)
    assert [m["source"] for m in b["missed"]] == ["inspection"]

    x = get(field, "/api/v1/bulletin", month="2026-10", format="xlsx")
    assert x.status_code == 200, x.text
    cells = [c for row in load_workbook(io.BytesIO(x.content)).active.values for c in row if c]
    assert "网格化监管月度通报 2026-10" in cells and "西街街道" in cells
    assert "工地扬尘未覆盖" in cells  # the overdue case, listed
    # The days covered, the last one included, as the PDF prints them.
    assert "通报期间: 2026-10-01 – 2026-10-31" in cells


def test_a_bulletin_of_the_running_month_says_so_in_both_files(field: Field) -> None:
    x = get(field, "/api/v1/bulletin", month="2026-11", format="xlsx", lang="en")
    assert x.status_code == 200, x.text
    cells = [c for row in load_workbook(io.BytesIO(x.content)).active.values for c in row if c]
    note = "Period: 2026-11-01 – 2026-11-30 (the month is not over; figures as of 2026-11-10 09:00)"
    assert note in cells
    r = get(field, "/api/v1/bulletin", month="2026-11", format="pdf", lang="en")
    text = subprocess.run(
        ["pdftotext", "-raw", "-", "-"], input=r.content, capture_output=True, check=True
    ).stdout.decode()
    assert note in " ".join(text.split())


def test_bulletin_text_that_looks_like_a_formula_stays_text(
    field: Field, time_machine: time_machine.TimeMachineFixture
) -> None:
    time_machine.move_to(datetime(2026, 10, 20, 9, 0, tzinfo=LOCAL))
    hostile = '=HYPERLINK("http://x")\x07'
    r = Field(field.client, field.db).client.post(
        "/api/v1/hotspots",
        headers=Field(field.client, field.db).headers("sup"),
        json=hotspot_body(UNITS[2], description=hostile),
    )
    assert r.status_code == 201, r.text
    time_machine.move_to(READ_AT)
    f = Field(field.client, field.db)
    x = get(f, "/api/v1/bulletin", month="2026-10", format="xlsx")
    assert x.status_code == 200, x.text
    sheet = load_workbook(io.BytesIO(x.content)).active
    [cell] = [c for row in sheet.iter_rows() for c in row if str(c.value).startswith("=HYP")]
    assert cell.data_type == "s" and cell.quotePrefix


def test_the_bulletin_pdf_reads_its_numbers_and_the_worst_unit(field: Field) -> None:
    b = get(field, "/api/v1/bulletin", month="2026-10", format="json").json()
    r = get(field, "/api/v1/bulletin", month="2026-10", format="pdf")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=r.content, capture_output=True, check=True
    ).stdout.decode()
    assert "网格化监管月度通报 2026-10" in text
    assert f"{b['headline']['patrol_met_rate'] * 100:.1f}%" in text
    assert "西街街道" in text and "巡查达标率" in text
    assert "2026-10-01 – 2026-10-31" in text and "尚未结束" not in text  # a whole month


def test_bad_periods_and_formats_are_named(field: Field) -> None:
    bad_month = get(field, "/api/v1/bulletin", month="2026-13")
    assert bad_month.status_code == 400 and "month" in bad_month.json()["detail"]
    future = get(field, "/api/v1/bulletin", month="2026-12")
    assert future.status_code == 400 and "month" in future.json()["detail"]
    ahead = get(field, "/api/v1/indicators", **{"from": "2026-12-01", "to": "2027-01-01"})
    assert ahead.status_code == 400 and "from" in ahead.json()["detail"]
    assert get(field, "/api/v1/indicators", **OCTOBER, format="doc").status_code == 422
    assert get(field, "/api/v1/indicators", **OCTOBER, by="planet").status_code == 422
    assert get(field, "/api/v1/bulletin", user="insp").status_code == 403


def test_default_month_is_the_last_complete_one(field: Field) -> None:
    r = get(field, "/api/v1/bulletin", format="json")
    assert r.status_code == 200, r.text
    assert r.json()["month"] == "2026-10"


def test_the_page_carries_its_hooks_and_runs_no_inline_script(field: Field) -> None:
    c = field.client
    r = c.get("/stats", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fstats")
    login = c.post(
        "/login",
        data={"username": "sup", "password": PASSWORD, "next": "/stats"},
        follow_redirects=False,
    )
    assert login.status_code == 303 and login.headers["location"] == "/stats"
    page = c.get("/stats")
    assert page.status_code == 200
    for hook in ("stats-table", "stats-period", "stats-download-xlsx"):
        assert f'data-testid="{hook}"' in page.text
    assert '"default_month": "2026-10"' in page.text  # last complete month, local time
    assert "script-src 'self';" in page.headers["content-security-policy"]
    english = c.get("/stats?lang=en")
    assert "Rank by" in english.text and "排名单位" not in english.text
