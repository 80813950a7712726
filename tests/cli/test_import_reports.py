import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import CellVisit, Report
from tests.cli.helpers import run_cli
from tests.factories import CENTRES, UNITS, staffed_field

HEADER = "id,username,lat,lon,accuracy_m,observed_at,kind,category,description\n"


def row(cell: str, when: datetime, user: str = "insp", **over: str) -> dict[str, str]:
    lon, lat = CENTRES[cell]
    r = {
        "id": str(uuid.uuid4()),
        "username": user,
        "lat": str(lat),
        "lon": str(lon),
        "accuracy_m": "8",
        "observed_at": when.isoformat(),
        "kind": "patrol",
        "category": "",
        "description": "例行巡查",
    }
    r.update(over)
    return r


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text(HEADER + "".join(",".join(r.values()) + "\n" for r in rows), encoding="utf-8")
    return path


def test_historical_reports_get_the_same_flags_except_late_sync(
    tmp_path: Path, client: TestClient, db: Session
) -> None:
    staffed_field(client, db)
    old = datetime.now(UTC) - timedelta(days=60)
    rows = [
        row(UNITS[0], old),
        row(UNITS[3], old + timedelta(hours=1)),
        row(UNITS[1], old + timedelta(hours=2), accuracy_m="250"),
    ]
    path = write(tmp_path / "history.csv", rows)

    result = run_cli("import-reports", path)

    assert result.exit_code == 0, result.output
    assert "3 reports added (1 counted, 2 flagged), 0 already present" in result.output
    flags = {rid: f for rid, f in db.execute(select(Report.id, Report.flags))}
    assert flags[uuid.UUID(rows[0]["id"])] == []  # 60 days old, but no late_sync
    assert flags[uuid.UUID(rows[1]["id"])] == ["not_on_duty"]
    assert flags[uuid.UUID(rows[2]["id"])] == ["low_accuracy"]
    assert db.scalar(select(func.count()).select_from(CellVisit)) == 1

    again = run_cli("import-reports", path)
    assert again.exit_code == 0 and "0 reports added" in again.output


def test_a_bad_row_rejects_the_file_naming_the_line(
    tmp_path: Path, client: TestClient, db: Session
) -> None:
    staffed_field(client, db)
    now = datetime.now(UTC) - timedelta(days=1)
    rows = [
        row(UNITS[0], now),
        row(UNITS[0], now, user="ghost"),
        row(UNITS[0], now, lat="NaN"),
        row(UNITS[0], now, id="123"),
        row(UNITS[0], now, kind="chat"),
        row(UNITS[0], now, observed_at="last week"),
    ]
    result = run_cli("import-reports", write(tmp_path / "bad.csv", rows))
    assert result.exit_code == 1
    for expected in (
        "line 3: no person with username 'ghost'",
        "line 4: lat NaN is outside",
        "line 5: id '123' is not a UUID",
        "line 6: kind 'chat'",
        "line 7: observed_at 'last week' is not an ISO-8601",
    ):
        assert expected in result.output
    assert db.scalar(select(func.count()).select_from(Report)) == 0


def test_a_clashing_id_rejects_the_file(tmp_path: Path, client: TestClient, db: Session) -> None:
    staffed_field(client, db)
    first = row(UNITS[0], datetime.now(UTC) - timedelta(days=2))
    assert run_cli("import-reports", write(tmp_path / "a.csv", [first])).exit_code == 0
    clash = {**first, "description": "改过的记录"}
    fresh = row(UNITS[1], datetime.now(UTC) - timedelta(days=1))
    result = run_cli("import-reports", write(tmp_path / "b.csv", [fresh, clash]))
    assert result.exit_code == 1 and "different body" in result.output
    assert db.scalar(select(func.count()).select_from(Report)) == 1
