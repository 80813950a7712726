"""What the supervisors' map reads, at any instant: cases open then (from their history), area
labels of the city view, the gap list as a file, and the cell card with its evidence."""

import csv
import io
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from tests.factories import (
    CENTRES,
    UNITS,
    X0,
    Y0,
    Field,
    hotspot_body,
    jpeg,
    report_body,
    staffed_field,
)


@pytest.fixture
def field(
    client: TestClient, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Field:
    monkeypatch.setattr(get_settings(), "photo_dir", tmp_path / "photos")
    return staffed_field(client, db)


def post(field: Field, path: str, user: str, body: object, status: int = 201) -> dict:
    r = field.client.post(path, json=body, headers=field.headers(user))
    assert r.status_code == status, r.text
    return r.json()


def step(field: Field, case: str, to: str, **extra: object) -> None:
    post(field, f"/api/v1/hotspots/{case}/transitions", "sup", {"to": to, **extra}, 200)


def open_ids(field: Field, **params: object) -> dict[str, dict]:
    r = field.client.get(
        "/api/v1/hotspots", params={"open": True, **params}, headers=field.headers("sup")
    )
    assert r.status_code == 200, r.text
    return {h["id"]: h for h in r.json()["hotspots"]}


def test_the_case_list_at_a_past_instant_holds_the_cases_open_then(
    field: Field, time_machine: time_machine.TimeMachineFixture
) -> None:
    start = clock.now()
    time_machine.move_to(start, tick=False)
    early = post(field, "/api/v1/hotspots", "sup", hotspot_body(UNITS[0]))["id"]
    dispatched = post(field, "/api/v1/hotspots", "sup", hotspot_body(UNITS[1]))["id"]
    step(field, dispatched, "accepted")
    step(
        field,
        dispatched,
        "dispatched",
        assignee="insp",
        deadline=(start + timedelta(hours=2)).isoformat(),
    )
    time_machine.move_to(start + timedelta(hours=3), tick=False)
    late = post(field, "/api/v1/hotspots", "sup", hotspot_body(UNITS[2]))["id"]
    step(field, early, "rejected", note="不属实")

    then = open_ids(field, as_of=(start + timedelta(hours=1)).isoformat())
    assert set(then) == {early, dispatched}
    assert then[early]["at"]["status"] == "reported" and then[early]["status"] == "rejected"
    assert then[dispatched]["at"] == {
        "as_of": (start + timedelta(hours=1)).isoformat(),
        "status": "dispatched",
        "deadline": (start + timedelta(hours=2)).isoformat(),
        "overdue": False,
    }
    assert set(open_ids(field)) == {dispatched, late}
    overdue_later = open_ids(
        field, overdue=True, as_of=(start + timedelta(hours=2, minutes=30)).isoformat()
    )
    assert set(overdue_later) == {dispatched}
    assert overdue_later[dispatched]["at"]["overdue"] is True
    assert open_ids(field, overdue=True, as_of=(start + timedelta(hours=1)).isoformat()) == {}
    bad = field.client.get(
        "/api/v1/hotspots", params={"as_of": "yesterday"}, headers=field.headers("sup")
    )
    assert bad.status_code == 422 and "as_of" in bad.text


def test_heat_and_sources_follow_the_instant(
    field: Field, time_machine: time_machine.TimeMachineFixture
) -> None:
    start = clock.now()
    time_machine.move_to(start, tick=False)
    post(field, "/api/v1/reports", "insp", report_body(UNITS[0], observed_at=start.isoformat()))
    box = f"{X0},{Y0},{X0 + 0.02},{Y0 + 0.02}"
    sup = field.headers("sup")

    def heat(at: object) -> list:
        params = {"bbox": box, "as_of": at.isoformat()} if at else {"bbox": box}  # type: ignore[attr-defined]
        return field.client.get("/api/v1/reports/heat", params=params, headers=sup).json()["points"]

    assert len(heat(None)) == 1
    assert heat(start - timedelta(hours=1)) == []  # before the patrol
    assert len(heat(start + timedelta(days=3))) == 1
    assert heat(start + timedelta(days=8)) == []  # out of the 7 days before
    lon, lat = CENTRES[UNITS[0]]
    source = {"type": "outfall", "name": "排口一", "lat": lat, "lon": lon}
    time_machine.move_to(start + timedelta(hours=1), tick=False)
    post(field, "/api/v1/sources", "admin", source)

    def sources(at: object) -> int:
        r = field.client.get(
            "/api/v1/sources",
            params={"as_of": at.isoformat()},
            headers=sup,  # type: ignore[attr-defined]
        )
        return r.json()["total"]

    assert sources(start) == 0 and sources(start + timedelta(hours=2)) == 1


def test_area_labels_count_the_gap_cells_the_tiles_show(field: Field) -> None:
    post(field, "/api/v1/reports", "insp", report_body(UNITS[0]))
    sup = field.headers("sup")
    box = f"{X0 - 0.1},{Y0 - 0.1},{X0 + 0.1},{Y0 + 0.1}"
    # The tree's root here is the district: at a city's zoom its streets are shown.
    low = field.client.get("/api/v1/gaps/rollup", params={"zoom": 9, "bbox": box}, headers=sup)
    [street] = low.json()["parents"]
    assert (street["code"], street["name"]) == ("410702001", "西街街道")
    assert (street["with_gaps"], street["leaf_cells"]) == (3, 4)  # UNITS[0] was patrolled
    assert X0 < street["lon"] < X0 + 0.02 and Y0 < street["lat"] < Y0 + 0.02
    assert street["bounds"] == [[Y0, X0], [Y0 + 0.02, X0 + 0.02]]
    closer = field.client.get(
        "/api/v1/gaps/rollup", params={"zoom": 11, "bbox": box}, headers=sup
    ).json()["parents"]
    # two levels down the tree are the unit cells: each stands for itself, as in the tiles
    assert {(a["code"], a["with_gaps"], a["leaf_cells"]) for a in closer} == {
        (UNITS[0], 0, 1),
        *((code, 1, 1) for code in UNITS[1:]),
    }
    far = f"{X0 + 1},{Y0 + 1},{X0 + 1.1},{Y0 + 1.1}"
    assert (
        field.client.get(
            "/api/v1/gaps/rollup", params={"zoom": 9, "bbox": far}, headers=sup
        ).json()["parents"]
        == []
    )
    leaves = field.client.get("/api/v1/gaps/rollup", params={"zoom": 14}, headers=sup)
    assert leaves.json()["parents"] == []  # unit cells need no labels
    mine = field.client.get(
        "/api/v1/gaps/rollup", params={"zoom": 9}, headers=field.headers("insp")
    )
    assert mine.json()["parents"] == []  # an inspector's map shows only their own cells
    bad = field.client.get("/api/v1/gaps/rollup", params={"zoom": 9, "bbox": "1,2"}, headers=sup)
    assert bad.status_code == 422 and "bbox" in bad.text


def test_the_gap_list_downloads_as_xlsx_and_csv_for_an_area(field: Field) -> None:
    post(field, "/api/v1/reports", "insp", report_body(UNITS[0]))
    sup = field.headers("sup")
    r = field.client.get(
        "/api/v1/gaps", params={"format": "xlsx", "within": "410702001"}, headers=sup
    )
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    book = load_workbook(io.BytesIO(r.content))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "网格编码 Cell code"
    by_code = {row[0]: row for row in rows[1:]}
    assert set(by_code) == set(UNITS[1:])  # UNITS[0] has no gap
    assert by_code[UNITS[2]][2:5] == ("红旗区", "西街街道", "从未巡查、人员缺岗")
    about = dict(book.worksheets[1].iter_rows(values_only=True))
    assert about["生成人 Generated by"] == "sup" and about["范围 Scope"] == "410702001 西街街道"

    text = field.client.get(
        "/api/v1/gaps", params={"format": "csv", "lang": "en"}, headers=sup
    ).content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert len(table) == 4 and "Never patrolled" in table[3][4]
    mine = field.client.get("/api/v1/gaps", params={"format": "csv"}, headers=field.headers("insp"))
    assert {row[0] for row in list(csv.reader(io.StringIO(mine.text)))[1:]} == {UNITS[1]}


def test_the_card_of_a_red_cell_leads_to_its_evidence(field: Field) -> None:
    report = post(
        field, "/api/v1/reports", "insp", report_body(UNITS[0], kind="issue", description="扬尘")
    )
    photo = field.client.post(
        f"/api/v1/reports/{report['id']}/photos",
        files={"file": ("p.jpg", jpeg((200, 30, 30)), "image/jpeg")},
        headers=field.headers("insp"),
    )
    assert photo.status_code == 201, photo.text
    case = post(field, "/api/v1/hotspots", "sup", hotspot_body(UNITS[0]))["id"]
    card = field.client.get(f"/api/v1/cells/{UNITS[0]}/card", headers=field.headers("sup")).json()
    assert "open_hotspot" in card["reasons"]
    assert card["ancestors"] == ["410702", "410702001"]
    [shown] = [r for r in card["reports"] if r["id"] == report["id"]]
    [thumb] = shown["photos"]
    display = field.client.get(thumb["display_url"], headers=field.headers("sup"))
    assert display.status_code == 200 and display.headers["content-type"] == "image/jpeg"
    assert field.client.get(thumb["url"], headers=field.headers("sup")).status_code == 200
    assert [c["desk_url"] for c in card["cases"] if c["open"]][:1] == [f"/desk?case={case}"]
    # unpatrolled for the 30 days until the patrol just now; staffed all along
    [lapse] = card["lapses"]
    ended = datetime.fromisoformat(lapse["end"])
    assert lapse["lapse"] == "unpatrolled" and ended == datetime.fromisoformat(
        report["observed_at"]
    )
    assert {p["duty"] for p in lapse["responsible"]} == {"leader", "member"}
    dossier = field.client.get(card["dossier"]["url"], headers=field.headers("sup"))
    assert dossier.status_code == 200 and dossier.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(dossier.content)).namelist()
    assert "lapses.json" in names and "reports.json" in names

    mine = field.client.get(f"/api/v1/cells/{UNITS[0]}/card", headers=field.headers("insp"))
    assert mine.json()["lapses"] is None and mine.json()["dossier"] is None
    lapsed = field.client.get(f"/api/v1/cells/{UNITS[2]}/card", headers=field.headers("disc"))
    assert {x["lapse"] for x in lapsed.json()["lapses"]} == {"unpatrolled", "unstaffed"}
