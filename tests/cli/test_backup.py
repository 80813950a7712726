"""Backup and restore: a round trip brings back every report, photo and audit entry, and the
audit chain still verifies; damaged archives are refused before anything changes."""

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from app.config import get_settings
from app.main import create_app
from app.models import AuditEntry, Hotspot, Photo, Report, Source
from tests.cli.helpers import run_cli
from tests.conftest import empty_all_tables
from tests.factories import (
    CENTRES,
    UNITS,
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
    f = staffed_field(client, db)
    for colour in ((1, 2, 3), (4, 5, 6)):
        r = f.client.post("/api/v1/reports", json=report_body(), headers=f.headers("insp"))
        assert r.status_code == 201
        up = f.client.post(
            f"/api/v1/reports/{r.json()['id']}/photos",
            files={"file": ("p.jpg", jpeg(colour), "image/jpeg")},
            headers=f.headers("insp"),
        )
        assert up.status_code == 201
    h = f.client.post("/api/v1/hotspots", json=hotspot_body(), headers=f.headers("sup")).json()
    step = {"to": "accepted", "note": "立案"}
    f.client.post(f"/api/v1/hotspots/{h['id']}/transitions", json=step, headers=f.headers("boss"))
    return f


def counts(db: Session) -> tuple[int, int, int, int]:
    db.expire_all()
    found = tuple(
        db.scalar(select(func.count()).select_from(model)) or 0
        for model in (Report, Photo, Hotspot, AuditEntry)
    )
    db.rollback()  # hold no transaction open: restoring replaces every table
    return found  # type: ignore[return-value]


def photo_files() -> dict[str, bytes]:
    """The originals: display copies are derived from them, and left out of backups."""
    store = get_settings().photo_store
    return {
        p.name: p.read_bytes()
        for p in store.rglob("*")
        if p.is_file() and not p.name.endswith(".display.jpg")
    }


def verify(field: Field) -> dict:
    headers = field.headers("admin")
    field.db.rollback()
    return field.client.get("/api/v1/audit/verify", headers=headers).json()


def test_round_trip_restores_everything_and_the_chain_verifies(
    field: Field, db: Session, engine: Engine, tmp_path: Path, database_url: str
) -> None:
    before, photos, chain = counts(db), photo_files(), verify(field)
    assert before[1] == 2 and chain["ok"]
    archive = tmp_path / "gridwatch.tar"

    result = run_cli("backup", archive)
    assert result.exit_code == 0, result.output
    assert "2 photos" in result.output

    # The disaster: every table emptied, the photo store gone.
    empty_all_tables(engine)
    for p in get_settings().photo_store.rglob("*.jpg"):
        p.unlink()
    assert counts(db) == (0, 0, 0, 0)

    result = run_cli("restore", archive)
    assert result.exit_code == 0, result.output
    assert "audit chain verified" in result.output
    # The tables were made afresh from the dump, which carries no grants: the app role's rights
    # are given again (app/sql/app_role.sql), still none to change the audit log.
    rights = db.execute(
        text(
            "SELECT has_table_privilege('gridwatch_app', 'reports', 'INSERT'), "
            "has_table_privilege('gridwatch_app', 'audit_log', 'UPDATE')"
        )
    ).one()
    db.rollback()
    assert tuple(rights) == (True, False)
    # As after a real restore, the server starts afresh: connections made before it knew
    # the old extension objects.
    engine.dispose()
    with TestClient(create_app(database_url)) as client:
        restarted = Field(client, db)
        assert counts(db) == before
        assert photo_files() == photos
        after = verify(restarted)
        assert after["ok"] and after["head"] == chain["head"]
        assert after["entries"] == chain["entries"]
        # The restored database takes new writes, chained on.
        body = report_body()
        r = client.post("/api/v1/reports", json=body, headers=restarted.headers("insp"))
        assert r.status_code == 201 and verify(restarted)["entries"] == chain["entries"] + 1


def test_restore_refuses_to_overwrite_data_without_yes(
    field: Field, tmp_path: Path, engine: Engine
) -> None:
    archive = tmp_path / "b.tar"
    assert run_cli("backup", archive).exit_code == 0
    field.db.rollback()  # no open transaction may hold a lock on the tables being replaced
    result = run_cli("restore", archive)
    assert result.exit_code == 1 and "--yes" in result.output
    assert run_cli("restore", archive, "--yes").exit_code == 0
    engine.dispose()


def test_a_damaged_archive_is_refused_and_nothing_changes(
    field: Field, db: Session, tmp_path: Path
) -> None:
    archive = tmp_path / "b.tar"
    assert run_cli("backup", archive).exit_code == 0
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.startswith("photos/"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            member.size = len(data)
            import io

            dst.addfile(member, io.BytesIO(data))
    before = counts(db)
    result = run_cli("restore", damaged, "--yes")
    assert result.exit_code == 1 and "damaged" in result.output
    assert counts(db) == before
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not a tar file at all")
    result = run_cli("restore", garbage, "--yes")
    assert result.exit_code == 1 and "not a gridwatch backup" in result.output
    assert db.scalar(text("SELECT count(*) FROM audit_log")) == before[3]
    db.rollback()


def test_an_archive_naming_files_outside_the_store_is_refused(
    field: Field, db: Session, tmp_path: Path
) -> None:
    import io
    import json

    evil = tmp_path / "evil.tar"
    conf = b"archive_command = 'touch /tmp/pwned'\n"
    manifest = {
        "format": "gridwatch-backup/1",
        "audit_seq": 0,
        "audit_head": "0" * 64,
        "database": {"path": "database.dump", "sha256": "0" * 64},
        "photos": [{"path": "photos/../pg/postgresql.auto.conf", "sha256": "0" * 64}],
    }
    with tarfile.open(evil, "w") as tar:
        for name, data in (
            ("manifest.json", json.dumps(manifest).encode()),
            ("pg/postgresql.auto.conf", conf),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    before = counts(db)
    result = run_cli("restore", evil, "--yes")
    assert result.exit_code == 1 and "unexpected entries" in result.output
    assert counts(db) == before
    assert not (get_settings().photo_store.parent / "pg").exists()


def test_a_restore_under_other_rule_settings_recomputes_what_they_decide(
    field: Field,
    db: Session,
    engine: Engine,
    tmp_path: Path,
    rule_settings: Callable[..., None],
) -> None:
    """The backup's summaries were computed with its server's source radius; restored where
    the radius is wider, the sources a patrol passed within it are inspected."""
    lon, lat = CENTRES[UNITS[0]]
    source = Source(
        type="outfall",
        name="排口",
        lat=lat,
        lon=lon + 0.001,  # 91 m east of the patrols of `field`
        geom=f"SRID=4326;POINT({lon + 0.001} {lat})",
        inspection_interval_hours=72,
    )
    db.add(source)
    db.commit()
    assert db.scalar(select(Source.inspected_at)) is None
    archive = tmp_path / "b.tar"
    assert run_cli("backup", archive).exit_code == 0
    db.rollback()
    rule_settings(source_radius_m=120)
    result = run_cli("restore", archive, "--yes")
    assert result.exit_code == 0, result.output
    assert "summaries rebuilt" in result.output
    engine.dispose()
    assert db.scalar(select(Source.inspected_at)) is not None
    db.rollback()
