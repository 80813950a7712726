"""Issue 19: the import page's API — a preview that is the import itself rolled back (the same
problems as the CLI, nothing left behind, audit included), a confirmation of exactly the
previewed file, admins only, with its own upload limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.config import get_settings
from app.models import AuditEntry, Cell, Duty, Person
from tests.cli.helpers import run_cli
from tests.cli.test_grid_onboarding import bureau_shapefile, zipped
from tests.cli.test_roster_from_excel import ROWS, xlsx
from tests.factories import UNITS, bearer, make_user, two_by_two

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def tally(db: Session) -> tuple[int, ...]:
    db.expire_all()
    return tuple(
        db.scalar(select(func.count()).select_from(m)) or 0
        for m in (Cell, Person, Duty, AuditEntry)
    )


@pytest.fixture
def admin(db: Session) -> dict[str, str]:
    make_user(db, "admin", "admin")
    return bearer(db, "admin")


def upload(path: Path, kind: str = "auto", **extra: str) -> dict[str, object]:
    return {
        "files": {"file": (path.name, path.read_bytes(), XLSX)},
        "data": {"kind": kind, **extra},
    }


def test_a_faulty_roster_is_previewed_with_the_cli_s_problems_and_nothing_stays(
    tmp_path: Path, db: Session, client: TestClient, admin: dict[str, str]
) -> None:
    two_by_two(db)
    rows = [*ROWS, [5, "999", "网格员", "钱七", "13900000007", "2025/1/1", None]]
    rows.append([6, UNITS[3], "组长", "孙八", "13900000008", "2025/1/1", None])
    path = xlsx(tmp_path / "名单.xlsx", rows)
    before = tally(db)

    r = client.post("/api/v1/imports/preview", headers=admin, **upload(path))  # type: ignore[arg-type]

    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["ok"] is False and answer["source"] == "名单.xlsx"
    assert answer["problems"] == [
        "row 7: no cell with code '999'",
        "row 8: duty '组长' is not one of leader, member, patroller, supervisor "
        "(网格长, 网格员, 巡查员, 监督员)",
    ]
    cli = run_cli("import-roster", path)
    assert cli.exit_code == 1
    assert all(problem in cli.output for problem in answer["problems"])
    assert tally(db) == before


def test_a_good_roster_previews_without_writing_then_imports_when_confirmed(
    tmp_path: Path, db: Session, client: TestClient, admin: dict[str, str]
) -> None:
    two_by_two(db)
    path = xlsx(tmp_path / "名单.xlsx", ROWS)
    before = tally(db)

    preview = client.post("/api/v1/imports/preview", headers=admin, **upload(path))  # type: ignore[arg-type]

    assert preview.status_code == 200, preview.text
    answer = preview.json()
    assert answer["ok"] is True and answer["kind"] == "roster"
    assert answer["counts"] == {
        "rows": 4,
        "persons_added": 3,
        "duties_added": 4,
        "duties_updated": 0,
    }
    assert {f["properties"]["code"] for f in answer["cells"]["features"]} == set(UNITS[:3])
    assert tally(db) == before  # the preview left nothing, not even an audit entry

    other = tmp_path / "other.xlsx"
    other.write_bytes(path.read_bytes() + b"\0")
    changed = client.post(
        "/api/v1/imports",
        headers=admin,
        **upload(other, "roster", preview_sha256=answer["sha256"]),  # type: ignore[arg-type]
    )
    assert changed.status_code == 409 and "preview it again" in changed.text
    assert tally(db) == before

    done = client.post(
        "/api/v1/imports",
        headers=admin,
        **upload(path, "roster", preview_sha256=answer["sha256"]),  # type: ignore[arg-type]
    )
    assert done.status_code == 200, done.text
    assert done.json()["counts"] == answer["counts"]
    assert tally(db)[1:3] == (before[1] + 3, before[2] + 4)
    entries = db.execute(text("SELECT actor, action FROM audit_log ORDER BY seq")).all()
    assert ("admin", "roster.import") in [(e.actor, e.action) for e in entries]


def test_a_zipped_bureau_shapefile_previews_with_its_cells_and_imports(
    tmp_path: Path, db: Session, client: TestClient, admin: dict[str, str]
) -> None:
    archive = zipped(bureau_shapefile(tmp_path / "g"), tmp_path / "网格.zip")
    before = tally(db)

    preview = client.post("/api/v1/imports/preview", headers=admin, **upload(archive))  # type: ignore[arg-type]

    answer = preview.json()
    assert answer["ok"] is True and answer["kind"] == "grid", answer
    assert answer["counts"]["cells"] == 5 and answer["counts"]["inserted"] == 5
    assert any("read as GBK (detected)" in n for n in answer["notes"])
    codes = [f["properties"]["code"] for f in answer["cells"]["features"]]
    assert codes[:4] == sorted(codes[:4]) and codes[-1] == "410702001"  # unit cells first
    assert tally(db) == before

    done = client.post(
        "/api/v1/imports",
        headers=admin,
        **upload(archive, preview_sha256=answer["sha256"]),  # type: ignore[arg-type]
    )
    assert done.status_code == 200, done.text
    assert tally(db)[0] == before[0] + 5


def test_files_the_page_cannot_take(
    tmp_path: Path, db: Session, client: TestClient, admin: dict[str, str]
) -> None:
    shp = bureau_shapefile(tmp_path / "g")
    lone = client.post("/api/v1/imports/preview", headers=admin, **upload(shp))  # type: ignore[arg-type]
    assert lone.json()["ok"] is False
    assert "put them into one .zip and upload that" in lone.json()["problems"][0]

    notes = tmp_path / "notes.pdf"
    notes.write_bytes(b"%PDF-1.4")
    odd = client.post("/api/v1/imports/preview", headers=admin, **upload(notes))  # type: ignore[arg-type]
    assert "cannot tell what this file is" in odd.json()["problems"][0]

    # Told it is a grid, a roster is named as unreadable, not a server error.
    roster = xlsx(tmp_path / "r.xlsx", ROWS)
    wrong = client.post("/api/v1/imports/preview", headers=admin, **upload(roster, "grid"))  # type: ignore[arg-type]
    assert wrong.status_code == 200 and wrong.json()["ok"] is False


def test_only_admins_import_and_uploads_have_their_own_limit(
    tmp_path: Path,
    db: Session,
    client: TestClient,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    two_by_two(db)
    make_user(db, "sup", "supervisor")
    path = xlsx(tmp_path / "r.xlsx", ROWS)
    assert client.post("/api/v1/imports/preview", **upload(path)).status_code == 401  # type: ignore[arg-type]
    refused = client.post("/api/v1/imports/preview", headers=bearer(db, "sup"), **upload(path))  # type: ignore[arg-type]
    assert refused.status_code == 403

    # Larger than other requests may be (1 MiB) …
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (2 * 1024 * 1024))
    r = client.post("/api/v1/imports/preview", headers=admin, **upload(big))  # type: ignore[arg-type]
    assert r.status_code == 200 and r.json()["ok"] is False
    # … but not larger than GRIDWATCH_IMPORT_MAX_BYTES (with multipart framing).
    monkeypatch.setattr(get_settings(), "import_max_bytes", 1024)
    r = client.post("/api/v1/imports/preview", headers=admin, **upload(big))  # type: ignore[arg-type]
    assert r.status_code == 413


def test_the_page_is_the_admin_s(db: Session, client: TestClient) -> None:
    make_user(db, "admin", "admin")
    make_user(db, "insp", "inspector")
    away = client.get("/admin/import", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"].startswith("/login?next=/admin")
    for user, expected in (("insp", 403), ("admin", 200)):
        client.cookies.clear()
        login = client.post(
            "/login",
            data={"username": user, "password": "correct-horse-battery"},
            follow_redirects=False,
        )
        assert login.status_code == 303
        page = client.get("/admin/import")
        assert page.status_code == expected
    for hook in (
        "import-file",
        "import-kind",
        "import-preview",
        "import-problems",
        "import-confirm",
        "import-result",
    ):
        assert f'data-testid="{hook}"' in page.text
