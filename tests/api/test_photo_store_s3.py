"""The S3-compatible photo store (GRIDWATCH_PHOTO_STORE=s3) against a real S3 HTTP endpoint
(moto's server in its own process, tests/s3_server.py): uploads land in the bucket under
content-addressed keys, come back byte for byte, feed dossiers, and survive backup/restore."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.main import create_app
from app.models import Photo
from tests.cli.helpers import run_cli
from tests.conftest import empty_all_tables
from tests.factories import UNITS, Field, jpeg, report_body, staffed_field
from tests.s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server, _free_port

PREFIX = "gridwatch/photos/"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    yield server
    server.stop()


@dataclass
class Bucket:
    client: Any
    name: str

    def objects(self) -> dict[str, bytes]:
        """Every object under the prefix, by its key below the prefix."""
        listed = self.client.list_objects_v2(Bucket=self.name, Prefix=PREFIX)
        return {
            item["Key"].removeprefix(PREFIX): self.client.get_object(
                Bucket=self.name, Key=item["Key"]
            )["Body"].read()
            for item in listed.get("Contents", [])
        }

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=PREFIX + key)


@pytest.fixture
def bucket(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket, and gridwatch set to keep photos in it (the photo directory is set
    too, to see that nothing lands there)."""
    name = s3_server.new_bucket()
    settings = get_settings()
    for attr, value in (
        ("photo_backend", "s3"),
        ("s3_endpoint", s3_server.endpoint),
        ("s3_bucket", name),
        ("s3_access_key", SecretStr(ACCESS_KEY)),
        ("s3_secret_key", SecretStr(SECRET_KEY)),
        ("s3_region", REGION),
        ("s3_prefix", PREFIX.rstrip("/")),
        ("photo_dir", tmp_path / "photos"),
    ):
        monkeypatch.setattr(settings, attr, value)
    return Bucket(s3_server.client(), name)


@pytest.fixture
def field(client: TestClient, db: Session, bucket: Bucket) -> Field:
    return staffed_field(client, db)


def new_report(field: Field) -> dict[str, Any]:
    r = field.client.post(
        "/api/v1/reports", json=report_body(UNITS[0]), headers=field.headers("insp")
    )
    assert r.status_code == 201, r.text
    return r.json()


def upload(field: Field, report_id: object, data: bytes) -> Any:
    return field.client.post(
        f"/api/v1/reports/{report_id}/photos",
        files={"file": ("p.jpg", data, "image/jpeg")},
        headers=field.headers("insp"),
    )


def keys_of(sha: str) -> tuple[str, str]:
    return f"{sha[:2]}/{sha[2:4]}/{sha}.jpg", f"{sha[:2]}/{sha[2:4]}/{sha}.display.jpg"


def noisy_jpeg() -> bytes:
    """A 2000 x 1500 photo of noise: some 2 MB, more than one streamed chunk, and larger than
    the display copy's 1600 px."""
    image = Image.frombytes("RGB", (2000, 1500), os.urandom(2000 * 1500 * 3))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_a_photo_goes_to_the_bucket_and_comes_back_byte_for_byte(
    field: Field, bucket: Bucket, tmp_path: Path
) -> None:
    report, data = new_report(field), noisy_jpeg()
    assert len(data) > 1 << 20
    r = upload(field, report["id"], data)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["sha256"] == hashlib.sha256(data).hexdigest()
    original, display = keys_of(out["sha256"])
    stored = bucket.objects()
    assert set(stored) == {original, display} and stored[original] == data

    got = field.client.get(out["url"], headers=field.headers("sup"))
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-length"] == str(len(data))
    shown = field.client.get(out["display_url"], headers=field.headers("sup"))
    assert shown.status_code == 200 and shown.content == stored[display]
    with Image.open(io.BytesIO(shown.content)) as copy:
        assert copy.format == "JPEG" and copy.size == (1600, 1200)
    assert field.client.get(out["url"], headers=field.headers("other")).status_code == 404
    assert not (tmp_path / "photos").exists()  # nothing went to the directory store


def test_a_re_sent_photo_is_one_object_in_the_bucket(field: Field, bucket: Bucket) -> None:
    first, second = new_report(field), new_report(field)
    data = jpeg((10, 120, 200))
    created = upload(field, first["id"], data)
    assert created.status_code == 201
    again = upload(field, first["id"], data)  # the phone sent it again
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    copy = upload(field, second["id"], data)  # the same bytes on another report
    assert copy.status_code == 201 and copy.json()["report_flags"] == ["duplicate_photo"]
    assert field.db.scalar(select(func.count()).select_from(Photo)) == 2
    assert set(bucket.objects()) == set(keys_of(created.json()["sha256"]))


def test_a_display_copy_missing_from_the_bucket_is_derived_again(
    field: Field, bucket: Bucket
) -> None:
    out = upload(field, new_report(field)["id"], jpeg((200, 200, 10), size=(400, 300))).json()
    original, display = keys_of(out["sha256"])
    before = bucket.objects()[display]
    bucket.delete(display)
    shown = field.client.get(out["display_url"], headers=field.headers("insp"))
    assert shown.status_code == 200 and shown.content == before
    assert bucket.objects()[display] == before

    bucket.delete(original)
    gone = field.client.get(out["url"], headers=field.headers("insp"))
    assert gone.status_code == 503 and "missing" in gone.json()["detail"]


def test_the_cell_dossier_zip_holds_the_photo_from_the_bucket(
    field: Field, bucket: Bucket, tmp_path: Path
) -> None:
    report, data = new_report(field), jpeg((10, 10, 200))
    assert upload(field, report["id"], data).status_code == 201
    now = datetime.now(UTC)
    r = field.client.get(
        f"/api/v1/exports/cells/{UNITS[0]}.zip",
        params={"from": (now - timedelta(days=3)).isoformat(), "to": now.isoformat()},
        headers=field.headers("cmd"),
    )
    assert r.status_code == 200, r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    manifest = json.loads(z.read("manifest.json"))
    sha = hashlib.sha256(data).hexdigest()
    assert z.read(f"photos/{report['id']}/{sha}.jpg") == data
    assert manifest["missing_files"] == []
    # The PDF in it embeds the display copy, read from the bucket.
    pdf = tmp_path / "dossier.pdf"
    pdf.write_bytes(z.read("dossier.pdf"))
    listed = subprocess.run(
        ["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True
    ).stdout.splitlines()[2:]
    assert len([line for line in listed if " image " in line]) == 1, listed


def test_an_unreachable_bucket_answers_503_and_keeps_the_report(
    field: Field, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = new_report(field)
    monkeypatch.setattr(get_settings(), "s3_endpoint", f"http://127.0.0.1:{_free_port()}")
    r = upload(field, report["id"], jpeg())
    assert r.status_code == 503 and "report itself is kept" in r.json()["detail"]
    kept = field.client.get(f"/api/v1/reports/{report['id']}", headers=field.headers("insp"))
    assert kept.status_code == 200 and kept.json()["photos"] == []


def test_backup_holds_the_buckets_photos_and_restore_puts_them_back(
    field: Field, bucket: Bucket, engine: Engine, tmp_path: Path, database_url: str
) -> None:
    shas = []
    for colour in ((1, 2, 3), (4, 5, 6)):
        out = upload(field, new_report(field)["id"], jpeg(colour)).json()
        shas.append(out["sha256"])
    originals = {k: v for k, v in bucket.objects().items() if not k.endswith(".display.jpg")}
    assert len(originals) == 2
    archive = tmp_path / "gridwatch.tar"
    field.db.rollback()
    result = run_cli("backup", archive)
    assert result.exit_code == 0, result.output
    assert "2 photos" in result.output
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert manifest["photo_store"] == "s3"
        assert {p["path"] for p in manifest["photos"]} == {f"photos/{k}" for k in originals}

    # The disaster: every table emptied, the bucket emptied.
    empty_all_tables(engine)
    for key in bucket.objects():
        bucket.delete(key)
    result = run_cli("restore", archive)
    assert result.exit_code == 0, result.output
    assert bucket.objects() == originals
    engine.dispose()
    with TestClient(create_app(database_url)) as client:
        restarted = Field(client, field.db)
        photo = field.db.scalars(select(Photo).where(Photo.sha256 == shas[0])).one()
        base = f"/api/v1/reports/{photo.report_id}/photos/{photo.id}"
        field.db.rollback()
        got = client.get(base, headers=restarted.headers("insp"))
        assert got.status_code == 200 and got.content == originals[keys_of(shas[0])[0]]
        shown = client.get(f"{base}/display", headers=restarted.headers("insp"))
        assert shown.status_code == 200  # derived again from the restored original
    assert keys_of(shas[0])[1] in bucket.objects()


def test_a_backup_of_the_directory_store_restores_into_a_bucket(
    client: TestClient,
    db: Session,
    bucket: Bucket,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The way from one machine's directory to a bucket: back up, switch the store, restore."""
    monkeypatch.setattr(get_settings(), "photo_backend", "dir")
    field = staffed_field(client, db)
    data = jpeg((7, 8, 9))
    out = upload(field, new_report(field)["id"], data).json()
    original, _ = keys_of(out["sha256"])
    assert (tmp_path / "photos" / original).read_bytes() == data and bucket.objects() == {}
    archive = tmp_path / "dir.tar"
    db.rollback()
    assert run_cli("backup", archive).exit_code == 0

    monkeypatch.setattr(get_settings(), "photo_backend", "s3")
    result = run_cli("restore", archive, "--yes")
    assert result.exit_code == 0, result.output
    engine.dispose()
    assert bucket.objects() == {original: data}


def test_check_photos_finds_originals_missing_or_damaged_in_the_bucket(
    field: Field, bucket: Bucket
) -> None:
    shas = [
        upload(field, new_report(field)["id"], jpeg(colour)).json()["sha256"]
        for colour in ((11, 12, 13), (14, 15, 16), (17, 18, 19))
    ]
    field.db.rollback()
    result = run_cli("check-photos", "--hashes")
    assert result.exit_code == 0, result.output
    assert "3 originals" in result.output and "0 missing, 0 damaged" in result.output

    gone, damaged, _ = (keys_of(sha)[0] for sha in shas)
    bucket.delete(gone)
    bucket.client.put_object(Bucket=bucket.name, Key=PREFIX + damaged, Body=b"not the photo")
    result = run_cli("check-photos")  # without reading the bytes: only the missing one
    assert result.exit_code == 1 and f"missing: {gone}" in result.output
    assert "1 missing, 0 damaged" in result.output
    result = run_cli("check-photos", "--hashes")
    assert result.exit_code == 1 and f"damaged: {damaged}" in result.output
    assert "1 missing, 1 damaged" in result.output
