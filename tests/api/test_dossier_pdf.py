"""The readable dossier: dossier.pdf inside the ZIP and alone (format=pdf) — the cell, the
assignee, every timeline step in local time, photos with EXIF and distance, page numbers,
a signature block, Chinese fonts embedded (read back with poppler's pdftotext/pdffonts)."""

import io
import json
import re
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain.categories import CATEGORIES
from app.domain.pdf import render_pdf
from tests.factories import CENTRES, UNITS, Field, hotspot_body, jpeg, report_body, staffed_field

LOCAL = ZoneInfo("Asia/Shanghai")
LATER = (datetime.now(UTC) + timedelta(days=3)).isoformat()


@pytest.fixture
def field(
    client: TestClient, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Field:
    monkeypatch.setattr(get_settings(), "photo_dir", tmp_path / "photos")
    return staffed_field(client, db)


def poppler(tool: str, pdf: bytes, tmp_path: Path, *args: str) -> str:
    exe = shutil.which(tool)
    assert exe, f"{tool} is missing: install poppler-utils (scripts/system-deps.sh)"
    path = tmp_path / "d.pdf"
    path.write_bytes(pdf)
    to_stdout = ["-"] if tool == "pdftotext" else []
    command = [exe, *args, str(path), *to_stdout]
    done = subprocess.run(command, check=True, capture_output=True, timeout=60)
    return done.stdout.decode()


def post(field: Field, path: str, user: str, body: object, status: int = 201) -> dict:
    r = field.client.post(path, json=body, headers=field.headers(user))
    assert r.status_code == status, r.text
    return r.json()


def a_case_with_a_photo(field: Field) -> dict:
    """An issue report by `insp` with a geotagged photo ~110 m north of the spot, its case
    accepted by `boss`, dispatched by `sup` to `cmd` (a command officer whose scope covers
    the cell — no one else in the dossier) and reported rectified by `cmd`."""
    lon, lat = CENTRES[UNITS[0]]
    issue = post(field, "/api/v1/reports", "insp", report_body(kind="issue", description="扬尘"))
    r = field.client.post(
        f"/api/v1/reports/{issue['id']}/photos",
        files={"file": ("p.jpg", jpeg(gps=(lon, lat + 0.001)), "image/jpeg")},
        headers=field.headers("insp"),
    )
    assert r.status_code == 201, r.text
    body = hotspot_body(source="patrol", report_id=issue["id"])
    case = post(field, "/api/v1/hotspots", "insp", body, 200)
    for user, step in (
        ("boss", {"to": "accepted"}),
        ("sup", {"to": "dispatched", "assignee": "cmd", "deadline": LATER}),
        ("cmd", {"to": "rectifying"}),
        ("cmd", {"to": "rectified", "note": "已覆盖防尘网"}),
    ):
        post(field, f"/api/v1/hotspots/{case['id']}/transitions", user, step, 200)
    return case


def test_the_dossier_pdf_names_the_cell_the_assignee_and_every_step_in_local_time(
    field: Field, tmp_path: Path
) -> None:
    case = a_case_with_a_photo(field)
    r = field.client.get(
        f"/api/v1/exports/hotspots/{case['id']}.zip", headers=field.headers("disc")
    )
    assert r.status_code == 200, r.text
    files = zipfile.ZipFile(io.BytesIO(r.content))
    pdf = files.read("dossier.pdf")
    assert pdf.startswith(b"%PDF")
    text = poppler("pdftotext", pdf, tmp_path, "-layout")
    assert "西北" in text and "410702001001001" in text  # the cell
    category = json.loads(files.read("hotspot.json"))["category"]
    assert f"{CATEGORIES[category]} {category}" in text  # by its name, not only its code
    # The assignee (not the reporter) by name, in the summary and among the people.
    lines = text.splitlines()
    [assignee] = [line for line in lines if "承办人 Assignee" in line]
    assert "cmd名 13900000000 (cmd)" in assignee
    [listed] = [line for line in lines if "承办人 assignee" in line and "派遣" not in line]
    assert "cmd名" in listed and "insp名" not in listed
    history = json.loads(files.read("hotspot.json"))["history"]
    assert len(history) == 5
    (tmp_path / "dossier.pdf").write_bytes(pdf)  # kept for a look at a failure
    # Every step, in order, on its own row: its local time, the step and who took it.
    timeline = text.split("办理经过 Timeline")[1].split("位置示意图 Map")[0]
    rows = [line for line in timeline.splitlines() if re.match(r"\d{4}-\d\d-\d\d \d", line)]
    assert len(rows) == len(history), timeline
    for step, row in zip(history, rows, strict=True):
        at = datetime.fromisoformat(step["at"]).astimezone(LOCAL)
        assert row.startswith(at.strftime("%Y-%m-%d %H:%M:%S")), (step, row)
        assert f"{step['actor']}名" in row, (step, row)
    assert [step["actor"] for step in history] == ["insp", "boss", "sup", "cmd", "cmd"]
    assert "第 1 页 / 共" in text and "经办人" in text and "审核人" in text
    assert "2026:11:20 10:00:00" in text  # the photo's EXIF time
    assert "距问题位置 111" in text  # metres: 0.001° of latitude north of the spot
    sketch = files.read("map.svg").decode()
    for label in ("西北 410702001001001", "问题 spot", ">1</text>", "北 N", " m</text>"):
        assert label in sketch, label  # cell, spot, report 1, north, scale bar
    people = json.loads(files.read("responsible.json"))
    assert {(p["duty"], p["username"]) for p in people} >= {("assignee", "cmd")}
    fonts = poppler("pdffonts", pdf, tmp_path)
    embedded = [line for line in fonts.splitlines()[2:] if line.strip()]
    # Every font is a Noto CJK face, embedded: no character fell back to a font without it.
    assert embedded and all("CJK" in line and " yes " in line for line in embedded), fonts


def test_format_pdf_hands_out_the_pdf_alone_and_it_verifies(field: Field, tmp_path: Path) -> None:
    case = a_case_with_a_photo(field)
    r = field.client.get(
        f"/api/v1/exports/hotspots/{case['id']}.zip",
        params={"format": "pdf"},
        headers=field.headers("sup"),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert ".pdf" in r.headers["content-disposition"] and r.content.startswith(b"%PDF")
    assert "insp名" in poppler("pdftotext", r.content, tmp_path)
    check = field.client.post(
        "/api/v1/exports/verify",
        files={"file": ("d.pdf", r.content)},
        headers=field.headers("sup"),
    ).json()
    assert check["issued"] is True and check["exports"][0]["facts"]["format"] == "pdf"


def test_the_cell_dossier_pdf_lists_its_lapses_and_reports(field: Field, tmp_path: Path) -> None:
    post(field, "/api/v1/reports", "insp", report_body(description="例行巡查"))
    now = datetime.now(UTC)
    period = {"from": (now - timedelta(days=3)).isoformat(), "to": now.isoformat()}
    r = field.client.get(
        f"/api/v1/exports/cells/{UNITS[0]}.zip",
        params=period | {"format": "pdf"},
        headers=field.headers("disc"),
    )
    assert r.status_code == 200, r.text
    text = poppler("pdftotext", r.content, tmp_path)
    assert "西北" in text and "未按期巡查" in text and "例行巡查" in text
    assert "boss名" in text and "insp名" in text


def test_render_pdf_numbers_pages_and_fetches_nothing_from_the_network(tmp_path: Path) -> None:
    rows = "".join(f"<p>第{i}行 网格巡查</p>" for i in range(120))
    pdf = render_pdf(f"<h1>通报</h1>{rows}<img src='http://127.0.0.1:9/x.png'>")
    text = poppler("pdftotext", pdf, tmp_path)
    pages = text.count("\f")
    assert pages >= 2 and f"第 {pages} 页 / 共 {pages} 页" in text and "第119行" in text
