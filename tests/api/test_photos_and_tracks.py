"""Photos (type/size checks, content-addressed store, EXIF flags, access) and track patrols."""

import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from PIL.ExifTags import IFD
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.models import CellVisit
from tests.factories import CENTRES, UNITS, X0, Y0, Field, jpeg, report_body, staffed_field


@pytest.fixture
def field(
    client: TestClient, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Field:
    monkeypatch.setattr(get_settings(), "photo_dir", tmp_path / "photos")
    return staffed_field(client, db)


def new_report(field: Field, user: str = "insp") -> dict[str, object]:
    r = field.client.post(
        "/api/v1/reports", json=report_body(UNITS[0]), headers=field.headers(user)
    )
    assert r.status_code == 201
    return r.json()


def upload(
    field: Field, report_id: object, data: bytes, name: str = "p.jpg", user: str = "insp"
) -> object:
    return field.client.post(
        f"/api/v1/reports/{report_id}/photos",
        files={"file": (name, data, "image/jpeg")},
        headers=field.headers(user),
    )


def test_photo_is_stored_by_hash_and_served_back_to_those_who_may_see_it(field: Field) -> None:
    report = new_report(field)
    data = jpeg()
    r = upload(field, report["id"], data)
    assert r.status_code == 201  # type: ignore[attr-defined]
    photo = r.json()  # type: ignore[attr-defined]
    assert photo["content_type"] == "image/jpeg" and photo["report_counted"] is True
    stored = list((get_settings().photo_store).rglob(f"{photo['sha256']}.jpg"))
    assert len(stored) == 1 and stored[0].read_bytes() == data

    again = upload(field, report["id"], data)
    assert again.status_code == 200 and again.json()["id"] == photo["id"]  # type: ignore[attr-defined]

    url = f"/api/v1/reports/{report['id']}/photos/{photo['id']}"
    for user, status in (("insp", 200), ("sup", 200), ("cmd", 200), ("other", 404)):
        got = field.client.get(url, headers=field.headers(user))
        assert got.status_code == status, user
        if status == 200:
            assert got.content == data and got.headers["content-type"] == "image/jpeg"
    assert field.client.get(url).status_code == 401


def test_duplicate_photo_flags_the_second_report_only(field: Field) -> None:
    first, second = new_report(field), new_report(field)
    data = jpeg((10, 200, 10))
    assert upload(field, first["id"], data).json()["report_flags"] == []  # type: ignore[attr-defined]
    dup = upload(field, second["id"], data).json()  # type: ignore[attr-defined]
    assert dup["report_flags"] == ["duplicate_photo"] and dup["report_counted"] is False
    # The copy stops counting: its history row is gone, the first report's stays.
    assert field.db.scalar(select(func.count()).select_from(CellVisit)) == 1
    other_photo = upload(field, new_report(field)["id"], jpeg((1, 2, 3))).json()  # type: ignore[attr-defined]
    assert other_photo["report_flags"] == []


def test_exif_position_far_from_the_report_is_flagged(field: Field) -> None:
    lon, lat = CENTRES[UNITS[0]]
    near = upload(field, new_report(field)["id"], jpeg(gps=(lon + 0.001, lat))).json()  # type: ignore[attr-defined]
    assert near["report_flags"] == [] and abs(near["exif_lat"] - lat) < 1e-4
    assert near["exif_taken_at"] == "2026:11:20 10:00:00"
    far = upload(field, new_report(field)["id"], jpeg(gps=(lon + 0.01, lat))).json()  # type: ignore[attr-defined]
    assert far["report_flags"] == ["exif_mismatch"] and far["report_counted"] is False


def test_accepted_report_is_voided_again_by_a_new_flag(field: Field) -> None:
    body = report_body(UNITS[0], accuracy_m=300)
    report = field.client.post("/api/v1/reports", json=body, headers=field.headers("insp")).json()
    field.client.post(
        f"/api/v1/reports/{report['id']}/review",
        json={"decision": "accept"},
        headers=field.headers("sup"),
    )
    lon, lat = CENTRES[UNITS[0]]
    out = upload(field, report["id"], jpeg(gps=(lon + 0.02, lat))).json()  # type: ignore[attr-defined]
    assert out["report_flags"] == ["low_accuracy", "exif_mismatch"]
    assert out["report_counted"] is False
    detail = field.client.get(f"/api/v1/reports/{report['id']}", headers=field.headers("sup"))
    assert detail.json()["review_status"] is None  # back in the review queue


def test_wrong_type_too_large_and_foreign_uploads_are_refused(field: Field) -> None:
    report = new_report(field)
    gif = upload(field, report["id"], jpeg(fmt="GIF"), "p.gif")
    assert gif.status_code == 415 and "JPEG, PNG or WebP" in gif.json()["detail"]  # type: ignore[attr-defined]
    text = upload(field, report["id"], b"<script>alert(1)</script>", "x.jpg")
    assert text.status_code == 415  # type: ignore[attr-defined]
    big = upload(field, report["id"], b"\xff\xd8" + b"0" * (10 * 1024 * 1024))
    assert big.status_code == 413  # type: ignore[attr-defined]
    png = upload(field, report["id"], jpeg(fmt="PNG"), "p.png")
    webp = upload(field, report["id"], jpeg((5, 5, 250), fmt="WEBP"), "p.webp")
    assert png.status_code == webp.status_code == 201  # type: ignore[attr-defined]
    foreign = upload(field, report["id"], jpeg((9, 9, 9)), user="sup")
    assert foreign.status_code == 403  # type: ignore[attr-defined]
    missing = upload(field, "00000000-0000-0000-0000-000000000000", jpeg())
    assert missing.status_code == 404  # type: ignore[attr-defined]


def test_unwritable_photo_store_is_503_and_keeps_the_report(
    field: Field, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store should be")
    monkeypatch.setattr(get_settings(), "photo_dir", blocker)
    report = new_report(field)
    r = upload(field, report["id"], jpeg())
    assert r.status_code == 503 and "report itself is kept" in r.json()["detail"]  # type: ignore[attr-defined]
    kept = field.client.get(f"/api/v1/reports/{report['id']}", headers=field.headers("insp"))
    assert kept.status_code == 200 and kept.json()["photos"] == []


# --- tracks -----------------------------------------------------------------------------


def track_body(coords: list[tuple[float, float]], minutes: float, **extra: object) -> dict:
    start = datetime.now(UTC) - timedelta(hours=2)
    return {
        "id": str(uuid.uuid4()),
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=minutes)).isoformat(),
        "track": {"type": "LineString", "coordinates": coords},
        **extra,
    }


WALK = [CENTRES[UNITS[2]], CENTRES[UNITS[0]], CENTRES[UNITS[1]]]  # 西南 → 西北 → 东北


def test_track_points_count_as_presence_in_cells_on_duty(field: Field) -> None:
    body = track_body(WALK, minutes=40)
    r = field.client.post("/api/v1/patrols", json=body, headers=field.headers("insp"))
    assert r.status_code == 201, r.text
    out = r.json()
    # 西南 is not insp's cell: that point does not count.
    assert out["cells"] == UNITS[:2] and out["counted"] is True
    assert out["points"] == 3 and out["counted_points"] == 2
    again = field.client.post("/api/v1/patrols", json=body, headers=field.headers("insp"))
    assert again.status_code == 200 and again.json() == out
    assert field.db.scalar(select(func.count()).select_from(CellVisit)) == 2


def test_a_track_driven_too_fast_does_not_count(field: Field) -> None:
    r = field.client.post(
        "/api/v1/patrols", json=track_body(WALK, minutes=0.5), headers=field.headers("insp")
    )
    assert r.json()["flags"] == ["impossible_speed"] and r.json()["counted"] is False
    assert field.db.scalar(select(func.count()).select_from(CellVisit)) == 0


def test_track_with_explicit_times_and_bad_tracks(field: Field) -> None:
    body = track_body(WALK, minutes=60)
    start = datetime.fromisoformat(body["started_at"])
    body["times"] = [(start + timedelta(minutes=m)).isoformat() for m in (0, 20, 40)]
    assert (
        field.client.post("/api/v1/patrols", json=body, headers=field.headers("insp")).status_code
        == 201
    )
    backwards = track_body(WALK, minutes=60)
    backwards["times"] = [(start + timedelta(minutes=m)).isoformat() for m in (0, 40, 20)]
    r = field.client.post("/api/v1/patrols", json=backwards, headers=field.headers("insp"))
    assert r.status_code == 400 and "backwards" in r.json()["detail"]
    for bad in ([WALK[0]], [(X0, 999.0), (X0, Y0)]):
        r = field.client.post(
            "/api/v1/patrols", json=track_body(bad, 10), headers=field.headers("insp")
        )
        assert r.status_code == 422


def test_a_nul_inside_the_exif_date_is_dropped(field: Field) -> None:
    img = Image.new("RGB", (32, 32), (1, 2, 3))
    exif = Image.Exif()
    exif[IFD.Exif] = {36867: "2024:01:01\x0010:00:00"}
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    r = upload(field, new_report(field)["id"], buf.getvalue())
    assert r.status_code == 201  # type: ignore[attr-defined]
    assert r.json()["exif_taken_at"] == "2024:01:0110:00:00"  # type: ignore[attr-defined]
