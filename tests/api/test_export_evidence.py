"""The accountability export as evidence for a discipline case: per-person rows and their
summary, the tolerance (min_hours), overdue cases named in full, vacant posts, the method
sheet and the author's name and unit."""

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Person
from app.models.reports import FLAGS
from tests.factories import UNITS, Field, hotspot_body, report_body, staffed_field

LOCAL = ZoneInfo("Asia/Shanghai")
NOW = datetime.now(UTC)
PERIOD = {"from": (NOW - timedelta(days=5)).isoformat(), "to": NOW.isoformat()}


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    return staffed_field(client, db)


def export(field: Field, user: str = "disc", **params: str):
    r = field.client.get(
        "/api/v1/exports/accountability", params=PERIOD | params, headers=field.headers(user)
    )
    assert r.status_code == 200, r.text
    return r


def patrol(field: Field, cell: str, when: datetime) -> None:
    body = report_body(cell, observed_at=when.isoformat())
    r = field.client.post("/api/v1/reports", json=body, headers=field.headers("insp"))
    assert r.status_code == 201 and r.json()["counted"], r.text


def step(field: Field, hotspot: str, **body: str) -> None:
    r = field.client.post(
        f"/api/v1/hotspots/{hotspot}/transitions", json=body, headers=field.headers("sup")
    )
    assert r.status_code == 200, r.text


def overdue_case(field: Field, clock: time_machine.TimeMachineFixture) -> str:
    """A case dispatched to `insp` by `sup` three days ago, due two hours later, still open."""
    then = NOW - timedelta(days=3)
    clock.move_to(then)
    field._tokens.clear()  # sessions opened at the earlier instant
    r = field.client.post(
        "/api/v1/hotspots", json=hotspot_body(UNITS[0]), headers=field.headers("sup")
    )
    assert r.status_code == 201, r.text
    case = r.json()["id"]
    step(field, case, to="accepted")
    deadline = then + timedelta(hours=2)
    step(field, case, to="dispatched", assignee="insp", deadline=deadline.isoformat())
    clock.move_to(NOW + timedelta(seconds=1))
    field._tokens.clear()
    return case


RESPONSIBLE = "责任人(岗位 姓名 电话 账号 在岗时段) Responsible"


def sheet_rows(sheet) -> list[dict]:
    header = [c.value for c in sheet[1]]
    return [dict(zip(header, [c.value for c in row], strict=True)) for row in sheet.iter_rows(2)]


def test_per_person_rows_sum_to_each_lapse_and_the_summary_sums_them(
    field: Field, time_machine: time_machine.TimeMachineFixture
) -> None:
    case = overdue_case(field, time_machine)
    patrol(field, UNITS[1], NOW - timedelta(days=1))
    lapses = export(field).json()["lapses"]
    book = load_workbook(io.BytesIO(export(field, format="xlsx").content))
    people_sheet, summary_sheet = book["责任人明细 By person"], book["责任人汇总 Per person"]
    for sheet in (people_sheet, summary_sheet):
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, sheet.max_column).column_letter}" + str(
            sheet.max_row
        )
    people = sheet_rows(people_sheet)

    def key(cell: str, lapse: str, start: datetime) -> tuple:
        return (cell, lapse, start)

    # The same workbook's lapse sheet, both ways: every person row belongs to one of its
    # lapses, and every lapse's people (on duty and assignees) have their rows.
    lapse_rows = sheet_rows(book.worksheets[0])
    in_sheet = {
        key(x["网格编码 Cell code"], x["失职类型 Lapse"], x["开始时间 Start"]) for x in lapse_rows
    }
    assert len(in_sheet) == len(lapse_rows) == len(lapses)
    by_lapse: dict[tuple, set[str]] = defaultdict(set)
    for p in people:
        k = key(p["网格编码 Cell code"], p["失职类型 Lapse"], p["失职开始 Lapse start"])
        assert k in in_sheet, p
        by_lapse[k].add(p["账号 Username"])
    for x in lapse_rows:
        k = key(x["网格编码 Cell code"], x["失职类型 Lapse"], x["开始时间 Start"])
        lines = [] if x[RESPONSIBLE] == "无人在岗" else x[RESPONSIBLE].splitlines()
        named = {line.rsplit("(", 1)[1].split(")")[0] for line in lines}  # "… (username) …"
        assert by_lapse.get(k, set()) == named, x
    assert any(x[RESPONSIBLE] == "无人在岗" for x in lapse_rows)  # and those have no rows

    duty_hours: dict[tuple, float] = defaultdict(float)
    assignee_hours: dict[tuple, float] = defaultdict(float)
    for p in people:
        k = key(p["网格编码 Cell code"], p["失职类型 Lapse"], p["失职开始 Lapse start"])
        bucket = assignee_hours if p["岗位 Post"] == "承办人" else duty_hours
        bucket[k] += p["本人重叠时长(小时) Overlap hours"]
    assert people and assignee_hours
    mine: dict[str, dict[tuple, float]] = defaultdict(dict)  # username → lapse → hours
    for lapse in lapses:
        start = datetime.fromisoformat(lapse["start"]).astimezone(LOCAL).replace(tzinfo=None)
        k = key(lapse["cell_code"], lapse["lapse_label"], start.replace(microsecond=0))
        want = sum(p["overlap_hours"] for p in lapse["responsible"])
        assert duty_hours.get(k, 0) == pytest.approx(want, abs=0.011), lapse
        if lapse["lapse"] == "overdue_hotspot":
            assert assignee_hours[k] == pytest.approx(lapse["hours"], abs=0.011)
            assert lapse["hotspots"] == [case]
        # Each person's hours in this lapse: the union of their spans in it. Here every span
        # runs from the lapse's start, so the union is the longest — once, not per role.
        for p in lapse["responsible"] + lapse["assignees"]:
            mine[p["username"]][k] = max(mine[p["username"]].get(k, 0), p["overlap_hours"])
    # `insp` is the member on duty through the overdue case's lapse and its assignee: two
    # person rows, one lapse.
    [overdue] = [k for k in assignee_hours if k[1] == "问题逾期未整改"]
    assert {
        (p["账号 Username"], p["岗位 Post"])
        for p in people
        if key(p["网格编码 Cell code"], p["失职类型 Lapse"], p["失职开始 Lapse start"]) == overdue
    } >= {("insp", "网格员"), ("insp", "承办人")}
    summary = {r["账号 Username"]: r for r in sheet_rows(summary_sheet)}
    assert set(summary) == {p["账号 Username"] for p in people} == set(mine)
    for username, row in summary.items():
        rows = [p for p in people if p["账号 Username"] == username]
        assert row["涉及失职(条) Lapses"] == len(mine[username]), username
        assert row["累计重叠时长(小时) Hours"] == pytest.approx(
            sum(mine[username].values()), abs=0.011 * len(rows)
        ), username
        assert row["涉及网格(个) Cells"] == len({p["网格编码 Cell code"] for p in rows})
    assert len([p for p in people if p["账号 Username"] == "insp"]) > len(mine["insp"])
    assert summary["insp"]["承办逾期问题(件) Overdue cases assigned"] == 1
    assert summary["boss"]["承办逾期问题(件) Overdue cases assigned"] == 0
    assert "承办人" in summary["insp"]["岗位 Posts"] and "网格员" in summary["insp"]["岗位 Posts"]


def test_csv_by_person_has_the_person_rows_with_a_bom(field: Field) -> None:
    r = export(field, format="csv", by="person")
    assert r.content.startswith(b"\xef\xbb\xbf")
    assert "by-person" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["岗位 Post", "姓名 Name", "账号 Username"]
    lapses = export(field).json()["lapses"]
    assert len(rows) - 1 == sum(len(x["responsible"]) for x in lapses) > 0
    assert {row[2] for row in rows[1:]} == {"insp", "boss", "other"}
    wrong = field.client.get(
        "/api/v1/exports/missed-problems",
        params=PERIOD | {"format": "csv", "by": "person"},
        headers=field.headers("disc"),
    )
    assert wrong.status_code == 400 and "by=person" in wrong.json()["detail"]


def test_min_hours_removes_exactly_the_shorter_lapses(
    field: Field, rule_settings: Callable[..., None]
) -> None:
    # UNITS[0] (72 h interval): never patrolled before, patrolled 4.5 days ago and again
    # 74 h later — a 12 h lapse from the period's start and a 2 h one between the patrols.
    first = NOW - timedelta(days=4, hours=12)
    patrol(field, UNITS[0], first)
    patrol(field, UNITS[0], first + timedelta(hours=74))

    def spans(body: dict) -> set[tuple]:
        return {(x["cell_code"], x["lapse"], x["start"], x["end"]) for x in body["lapses"]}

    def hours(x: tuple) -> float:
        return (datetime.fromisoformat(x[3]) - datetime.fromisoformat(x[2])).total_seconds() / 3600

    everything = export(field, min_hours="0").json()
    tolerant = export(field, min_hours="3").json()
    assert tolerant["min_hours"] == 3 and everything["min_hours"] == 0
    short = {x for x in spans(everything) if hours(x) < 3}
    assert short and (UNITS[0], "unpatrolled") in {x[:2] for x in short}
    assert spans(tolerant) == spans(everything) - short
    assert any(x[0] == UNITS[0] for x in spans(tolerant))  # the 12 h lapse stays
    engine = field.client.get(
        "/api/v1/lapses", params=PERIOD | {"min_hours": "3"}, headers=field.headers("disc")
    )
    assert spans(engine.json()) == spans(tolerant)  # the lapse engine's own answer
    # The same tolerance in every format, and the file says which.
    # A CSV states it on every row (it has no About sheet), and in its name.
    tolerance = "容差(小时，短于此的失职未列入) Tolerance min_hours (shorter lapses left out)"
    for by in ("lapse", "person"):
        r = export(field, format="csv", min_hours="3", by=by)
        assert "-min3h." in r.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0][-1] == tolerance and len(rows) > 1
        assert all(len(row) == len(rows[0]) and float(row[-1]) == 3 for row in rows[1:])
    rows = list(csv.reader(io.StringIO(export(field, format="csv", min_hours="3").text)))
    assert len(rows) - 1 == len(tolerant["lapses"])
    geo = export(field, format="geojson", min_hours="3").json()
    assert len(geo["features"]) == len(tolerant["lapses"]) and geo["meta"]["min_hours"] == 3
    book = load_workbook(io.BytesIO(export(field, format="xlsx", min_hours="3").content))
    assert book.worksheets[0].max_row - 1 == len(tolerant["lapses"])
    about = {r[0].value: r[1].value for r in book["说明 About"].iter_rows()}
    assert about["容差(小时) Tolerance min_hours"] == 3
    # Without the parameter, the setting decides.
    rule_settings(export_min_hours=3.0)
    assert spans(export(field).json()) == spans(tolerant)
    # … for the lapse engine's answer and the cell card's lapses too: one tolerance.
    engine = field.client.get("/api/v1/lapses", params=PERIOD, headers=field.headers("disc"))
    assert spans(engine.json()) == spans(tolerant)
    card = field.client.get(f"/api/v1/cells/{UNITS[0]}/card", headers=field.headers("disc"))
    assert card.status_code == 200, card.text
    assert card.json()["lapses"] and all(x["hours"] >= 3 for x in card.json()["lapses"])
    bad = field.client.get(
        "/api/v1/exports/accountability",
        params=PERIOD | {"min_hours": "-1"},
        headers=field.headers("disc"),
    )
    assert bad.status_code == 422 and "min_hours" in bad.text


def test_an_overdue_row_names_its_case_deadline_assignee_and_dispatcher(
    field: Field, time_machine: time_machine.TimeMachineFixture
) -> None:
    case = overdue_case(field, time_machine)
    [row] = [x for x in export(field).json()["lapses"] if x["lapse"] == "overdue_hotspot"]
    [detail] = row["cases"]
    assert detail["hotspot_id"] == case
    assert datetime.fromisoformat(detail["deadline"]) == pytest.approx(
        NOW - timedelta(days=3, hours=-2), abs=timedelta(seconds=5)
    )
    assert detail["assignee"]["username"] == "insp" and detail["assignee"]["name"] == "insp名"
    assert detail["dispatcher"]["username"] == "sup"
    assert [a["username"] for a in row["assignees"]] == ["insp"]
    assert case in row["requirement"]  # the full id, not its first 8 characters
    book = load_workbook(io.BytesIO(export(field, format="xlsx").content))
    [xrow] = [r for r in sheet_rows(book.worksheets[0]) if r["失职类型 Lapse"] == "问题逾期未整改"]
    cases = xrow["逾期问题(编号 期限 承办人 派遣人) Overdue cases"]
    assert case in cases and "承办人 insp名" in cases and "派遣人 sup名" in cases
    assert "承办人 insp名" in xrow["责任人(岗位 姓名 电话 账号 在岗时段) Responsible"]


def test_unstaffed_rows_name_the_vacant_posts(field: Field) -> None:
    rows = export(field).json()["lapses"]
    vacant = {x["cell_code"]: x["vacant"] for x in rows if x["lapse"] == "unstaffed"}
    assert vacant[UNITS[2]] == ["leader", "member", "patroller", "supervisor"]
    assert vacant[UNITS[3]] == ["leader", "patroller", "supervisor"]  # `other` is a member
    book = load_workbook(io.BytesIO(export(field, format="xlsx").content))
    [xrow] = [
        r
        for r in sheet_rows(book.worksheets[0])
        if r["网格编码 Cell code"] == UNITS[3] and r["失职类型 Lapse"] == "网格缺员"
    ]
    assert xrow["空缺岗位 Vacant posts"] == "网格长、巡查员、监督员"
    assert "空缺岗位：网格长、巡查员、监督员" in xrow["未履行的要求 Requirement missed"]


def test_the_method_sheet_states_the_rules_as_configured_and_the_author(
    field: Field, rule_settings: Callable[..., None]
) -> None:
    rule_settings(patrol_hours_medium=48, max_accuracy_m=80.0)
    book = load_workbook(io.BytesIO(export(field, format="xlsx", min_hours="1.5").content))
    method = {r[0].value: r[1].value for r in book["方法 Method"].iter_rows()}
    assert "中 medium 48 h" in method["巡查间隔（按风险） Patrol interval by risk"]
    flags = method["作废标记 Voiding flags"]
    assert all(flag in flags for flag in FLAGS) and "80.0 米" in flags
    assert "1.5" in method["容差 Tolerance (min_hours)"]
    assert method["时区 Time zone"].startswith("Asia/Shanghai")
    # The Chinese half names statuses and posts in Chinese, not by their codes.
    overdue_zh = method["问题逾期 Overdue hotspot"].split(" A hotspot")[0]
    assert "派遣" in overdue_zh and "dispatched" not in overdue_zh
    unstaffed_zh = method["网格缺员 Unstaffed"].split(" No ")[0]
    assert "网格长" in unstaffed_zh and "leader" not in unstaffed_zh
    about = {r[0].value: r[1].value for r in book["说明 About"].iter_rows()}
    assert about["生成人姓名 Author"] == "disc名"
    assert about["生成人单位 Author's unit"].startswith("纪委监委")
    assert about["软件版本 Software"].startswith("gridwatch ")
    json_meta = export(field).json()
    assert json_meta["generated_by_name"] == "disc名"
    assert any(m["rule"].startswith("作废标记") for m in json_meta["method"])


def test_a_formula_like_name_stays_text_in_the_person_sheets(field: Field) -> None:
    hostile = '=HYPERLINK("http://x","点我")'
    person = field.db.scalars(select(Person).where(Person.username == "insp")).one()
    person.name = hostile
    field.db.commit()
    book = load_workbook(io.BytesIO(export(field, format="xlsx").content))
    for title in ("责任人明细 By person", "责任人汇总 Per person"):
        sheet = book[title]
        [cell] = [c for row in sheet.iter_rows(2) for c in row if c.value == hostile][:1]
        assert cell.data_type == "s" and cell.quotePrefix is True, title
    people = sheet_rows(book["责任人明细 By person"])
    assert isinstance(people[0]["失职开始 Lapse start"], datetime)
