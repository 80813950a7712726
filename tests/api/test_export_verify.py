"""Whether a file someone hands in was issued by gridwatch: `gridwatch verify-export FILE` and
POST /api/v1/exports/verify answer from the audit log; one changed cell makes it not issued."""

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from tests.cli.helpers import run_cli
from tests.factories import UNITS, Field, staffed_field

NOW = datetime.now(UTC)
PERIOD = {"from": (NOW - timedelta(days=5)).isoformat(), "to": NOW.isoformat()}


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    return staffed_field(client, db)


def exported(field: Field, user: str = "disc", **params: str):
    r = field.client.get(
        "/api/v1/exports/accountability",
        params=PERIOD | {"format": "xlsx"} | params,
        headers=field.headers(user),
    )
    assert r.status_code == 200, r.text
    return r


def one_cell_changed(xlsx: bytes) -> bytes:
    book = load_workbook(io.BytesIO(xlsx))
    sheet = book.worksheets[0]
    sheet.cell(2, 8).value = sheet.cell(2, 8).value + 1  # an hour more on one lapse
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def verify(field: Field, content: bytes, user: str = "disc", name: str = "f.xlsx"):
    return field.client.post(
        "/api/v1/exports/verify",
        files={"file": (name, content, "application/octet-stream")},
        headers=field.headers(user),
    )


def test_verify_export_accepts_the_file_as_exported_and_rejects_one_changed_cell(
    field: Field, tmp_path: Path
) -> None:
    r = exported(field)
    original = tmp_path / "lapses.xlsx"
    original.write_bytes(r.content)
    ok = run_cli("verify-export", str(original))
    assert ok.exit_code == 0, ok.output
    line = ok.output.strip()
    assert len(line.splitlines()) == 1 and "ISSUED" in line and "NOT ISSUED" not in line
    assert "disc名 (disc)" in line and f"audit entry {r.headers['x-audit-seq']}" in line
    assert r.headers["x-content-sha256"] in line
    altered = tmp_path / "altered.xlsx"
    altered.write_bytes(one_cell_changed(r.content))
    bad = run_cli("verify-export", str(altered))
    assert bad.exit_code == 3 and "NOT ISSUED" in bad.output
    missing = run_cli("verify-export", str(tmp_path / "nothing.xlsx"))
    assert missing.exit_code == 1 and "nothing.xlsx" in missing.output


def test_the_verify_route_says_when_and_by_whom_and_refuses_an_altered_file(field: Field) -> None:
    r = exported(field)
    answer = verify(field, r.content)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued"] is True and body["sha256"] == r.headers["x-content-sha256"]
    [issue] = body["exports"]
    assert issue["seq"] == int(r.headers["x-audit-seq"]) and issue["entry_intact"] is True
    assert issue["by"] == "disc" and issue["by_name"] == "disc名"
    assert issue["by_unit"].startswith("纪委监委") and issue["action"] == "export.accountability"
    assert issue["filename"].endswith(".xlsx") and issue["facts"]["format"] == "xlsx"
    assert datetime.fromisoformat(issue["at"]) == pytest.approx(NOW, abs=timedelta(minutes=5))
    altered = verify(field, one_cell_changed(r.content)).json()
    assert altered["issued"] is False and altered["exports"] == []


def test_verify_is_scoped_to_who_may_see_the_export(field: Field) -> None:
    everything = exported(field).content
    district = exported(field, within="410702").content
    # The district's command office sees the export of its district, not the whole one's.
    assert verify(field, district, "cmd").json()["issued"] is True
    assert verify(field, everything, "cmd").json()["issued"] is False
    assert verify(field, everything, "sup").json()["issued"] is True
    assert verify(field, everything, "insp").status_code == 403


def test_a_dossier_verifies_too(field: Field) -> None:
    r = field.client.get(
        f"/api/v1/exports/cells/{UNITS[0]}.zip", params=PERIOD, headers=field.headers("sup")
    )
    assert r.status_code == 200, r.text
    body = verify(field, r.content, name="dossier.zip").json()
    assert body["issued"] is True and body["exports"][0]["action"] == "export.dossier"
