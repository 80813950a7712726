"""Every `issue` report opens a case (SPEC §4, §7), exactly once: single, batch, re-sends and
the CSV import alike; flagged reports too; the audit log keeps each opening."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.hotspots.from_reports import case_id_for
from app.models import AuditEntry, Hotspot, HotspotEvent
from tests.cli.helpers import run_cli
from tests.factories import CENTRES, UNITS, Field, hotspot_body, report_body, staffed_field


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    return staffed_field(client, db)


def cases(field: Field) -> list[Hotspot]:
    field.db.expire_all()
    return list(field.db.scalars(select(Hotspot).order_by(Hotspot.created_at, Hotspot.id)))


def test_an_issue_report_opens_one_case_linked_to_it(field: Field) -> None:
    body = report_body(kind="issue", category="dust", description="工地裸土未苫盖")
    first = field.client.post("/api/v1/reports", json=body, headers=field.headers("insp"))
    again = field.client.post("/api/v1/reports", json=body, headers=field.headers("insp"))
    assert (first.status_code, again.status_code) == (201, 200)
    [case] = cases(field)
    assert case.id == case_id_for(uuid.UUID(body["id"]))  # type: ignore[arg-type]
    assert (case.source, case.status, str(case.report_id)) == ("patrol", "reported", body["id"])
    assert (case.category, case.description) == ("dust", "工地裸土未苫盖")
    read = field.client.get(f"/api/v1/hotspots/{case.id}", headers=field.headers("insp")).json()
    assert read["created_by"] == "insp" and read["cell_code"] == UNITS[0]
    assert [(e["actor"], e["to_status"]) for e in read["history"]] == [("insp", "reported")]
    entries = field.db.scalars(
        select(AuditEntry).where(AuditEntry.action == "hotspot.create")
    ).all()
    assert [e.target_id for e in entries] == [str(case.id)]


def test_a_routine_patrol_opens_no_case(field: Field) -> None:
    r = field.client.post("/api/v1/reports", json=report_body(), headers=field.headers("insp"))
    assert r.status_code == 201 and cases(field) == []


def test_a_batch_sent_twice_opens_each_issues_case_once(field: Field) -> None:
    batch = [
        report_body(kind="issue", description="河道垃圾"),
        report_body(),
        report_body(UNITS[1], kind="issue"),
        report_body(kind="issue", accuracy_m=500),  # voided: low_accuracy
    ]
    for _ in range(2):
        r = field.client.post("/api/v1/reports/batch", json=batch, headers=field.headers("insp"))
        assert r.status_code == 200
        assert all(x["status"] in (200, 201) for x in r.json()["results"])
    opened = cases(field)
    issues = [b for b in batch if b["kind"] == "issue"]
    assert sorted(str(c.report_id) for c in opened) == sorted(str(b["id"]) for b in issues)
    assert field.db.scalar(select(func.count()).select_from(HotspotEvent)) == 3
    # The same report twice in one batch is one report, one case.
    twice = report_body(kind="issue")
    r = field.client.post(
        "/api/v1/reports/batch", json=[twice, twice], headers=field.headers("insp")
    )
    assert [x["status"] for x in r.json()["results"]] == [201, 200]
    assert len(cases(field)) == 4


def test_a_flagged_issue_report_still_opens_its_case(field: Field) -> None:
    far = report_body(kind="issue") | {"lon": 100.0, "lat": 30.0}  # in no cell
    other = report_body(UNITS[3], kind="issue")  # not insp's cell
    for body in (far, other):
        r = field.client.post("/api/v1/reports", json=body, headers=field.headers("insp"))
        assert r.status_code == 201 and not r.json()["counted"]
    by_report = {str(c.report_id): c for c in cases(field)}
    assert by_report[str(far["id"])].cell_id is None
    assert by_report[str(other["id"])].cell_id is not None
    # The inspector, who opened both, sees them; the other cell's staff see theirs.
    mine = field.client.get("/api/v1/hotspots", headers=field.headers("insp")).json()
    assert len(mine["hotspots"]) == 2
    theirs = field.client.get("/api/v1/hotspots", headers=field.headers("other")).json()
    assert [h["report_id"] for h in theirs["hotspots"]] == [other["id"]]


def test_asking_for_the_patrol_case_again_answers_the_opened_one(field: Field) -> None:
    report = field.client.post(
        "/api/v1/reports", json=report_body(kind="issue"), headers=field.headers("insp")
    ).json()
    body = hotspot_body(source="patrol", report_id=report["id"], id=str(uuid.uuid4()))
    r = field.client.post("/api/v1/hotspots", json=body, headers=field.headers("insp"))
    assert r.status_code == 200 and r.json()["id"] == str(case_id_for(uuid.UUID(report["id"])))
    assert len(cases(field)) == 1


HEADER = "id,username,lat,lon,accuracy_m,observed_at,kind,category,description\n"


def test_the_csv_import_opens_each_issues_case_once(
    tmp_path: Path, client: TestClient, db: Session
) -> None:
    field = staffed_field(client, db)
    when = datetime.now(UTC) - timedelta(days=20)
    lon, lat = CENTRES[UNITS[0]]
    rows = [
        (uuid.uuid4(), "issue", "dust", "裸土"),
        (uuid.uuid4(), "patrol", "", "例行"),
        (uuid.uuid4(), "issue", "", ""),
    ]
    lines = [
        f"{rid},insp,{lat},{lon},8,{(when + timedelta(hours=k)).isoformat()},{kind},{cat},{text}\n"
        for k, (rid, kind, cat, text) in enumerate(rows)
    ]
    path = tmp_path / "history.csv"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    for _ in range(2):
        result = run_cli("import-reports", path)
        assert result.exit_code == 0, result.output
    opened = cases(field)
    assert {c.id for c in opened} == {case_id_for(rows[0][0]), case_id_for(rows[2][0])}
    blank = next(c for c in opened if c.report_id == rows[2][0])
    assert (blank.category, blank.description) == ("other", "")
    assert all(c.found_at < datetime.now(UTC) - timedelta(days=19) for c in opened)
