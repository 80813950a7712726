"""Photos (type/size checks, content-addressed store, EXIF flags, access) and track patrols."""

import io
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from PIL.ExifTags import IFD
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain.reports.photos import display_path, photo_path
from app.models import CellVisit
from tests.factories import CENTRES, UNITS, X0, Y0, Field, dms, jpeg, report_body, staffed_field


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


def race(
    field: Field, database_url: str, uploads: list[tuple[object, bytes]]
) -> list[httpx.Response]:
    """Send `uploads` at the same moment, and let none commit before each has either written
    its photo or waits for a lock: the audit chain's head, which every commit takes last, is
    held here until then. Without a lock between them, each looks for the other's photo
    before that is committed."""
    barrier = threading.Barrier(len(uploads))
    answers: dict[int, httpx.Response] = {}

    def send(i: int, report_id: object, data: bytes) -> None:
        barrier.wait(timeout=30)
        answers[i] = upload(field, report_id, data)  # type: ignore[assignment]

    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE")
        threads = [
            threading.Thread(target=send, args=(i, *u), daemon=True) for i, u in enumerate(uploads)
        ]
        for t in threads:
            t.start()
        waiting = 0
        with psycopg.connect(database_url, autocommit=True) as watcher:
            for _ in range(600):
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> %s",
                    (holder.info.backend_pid,),
                ).fetchone()
                waiting = row[0] if row else 0
                if waiting == len(uploads):
                    break
                time.sleep(0.05)
        holder.rollback()
        for t in threads:
            t.join(timeout=30)
    assert waiting == len(uploads), "the uploads never all waited"
    return [answers[i] for i in range(len(uploads))]


def test_the_same_photo_sent_to_two_reports_at_once_flags_one_of_them(
    field: Field, database_url: str
) -> None:
    first, second = new_report(field), new_report(field)
    data = jpeg((30, 60, 90))
    answers = race(field, database_url, [(first["id"], data), (second["id"], data)])
    assert [a.status_code for a in answers] == [201, 201]
    flags = sorted(a.json()["report_flags"] for a in answers)
    assert flags == [[], ["duplicate_photo"]]
    assert sorted(a.json()["report_counted"] for a in answers) == [False, True]
    for report, answer in zip((first, second), answers, strict=True):  # as stored
        stored = field.client.get(f"/api/v1/reports/{report['id']}", headers=field.headers("insp"))
        assert stored.json()["flags"] == answer.json()["report_flags"]
    assert field.db.scalar(select(func.count()).select_from(CellVisit)) == 1


def test_the_same_photo_sent_twice_at_once_to_one_report_is_stored_once_and_answered_twice(
    field: Field, database_url: str
) -> None:
    other = new_report(field)
    data = jpeg((90, 60, 30))
    assert upload(field, other["id"], data).status_code == 201  # type: ignore[attr-defined]
    report = new_report(field)
    answers = race(field, database_url, [(report["id"], data), (report["id"], data)])
    assert sorted(a.status_code for a in answers) == [200, 201]  # never a "refused" to the phone
    assert answers[0].json()["id"] == answers[1].json()["id"]
    for answer in answers:  # both carry the report as the photo left it
        assert answer.json()["report_flags"] == ["duplicate_photo"]
        assert answer.json()["report_counted"] is False
    stored = field.client.get(f"/api/v1/reports/{report['id']}", headers=field.headers("insp"))
    assert len(stored.json()["photos"]) == 1


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
    big = upload(field, report["id"], b"\xff\xd8" + b"0" * get_settings().photo_max_bytes)
    assert big.status_code == 413  # type: ignore[attr-defined]
    png = upload(field, report["id"], jpeg(fmt="PNG"), "p.png")
    webp = upload(field, report["id"], jpeg((5, 5, 250), fmt="WEBP"), "p.webp")
    assert png.status_code == webp.status_code == 201  # type: ignore[attr-defined]
    foreign = upload(field, report["id"], jpeg((9, 9, 9)), user="sup")
    assert foreign.status_code == 403  # type: ignore[attr-defined]
    missing = upload(field, "00000000-0000-0000-0000-000000000000", jpeg())
    assert missing.status_code == 404  # type: ignore[attr-defined]


def test_a_photo_over_20_mb_is_refused_with_413_and_nothing_is_stored(field: Field) -> None:
    assert get_settings().photo_max_bytes == 20 * 1024 * 1024  # SPEC §6: ≤ 20 MB
    report = new_report(field)
    at_limit = jpeg(size=(640, 480))
    at_limit += b"\0" * (20 * 1024 * 1024 - len(at_limit))  # bytes after the JPEG's end
    assert upload(field, report["id"], at_limit).status_code == 201  # type: ignore[attr-defined]
    over = jpeg((1, 1, 1), size=(640, 480))
    over += b"\0" * (20 * 1024 * 1024 + 1 - len(over))
    r = upload(field, report["id"], over)
    assert r.status_code == 413 and "20,971,520" in r.json()["detail"]  # type: ignore[attr-defined]
    assert len(list(get_settings().photo_store.rglob("*.jpg"))) == 2  # the first and its copy


def jpeg_claiming(width: int, height: int) -> bytes:
    """An 8 x 8 JPEG whose frame header is rewritten to claim width x height pixels."""
    data = bytearray(jpeg(size=(8, 8)))
    sof = data.index(b"\xff\xc0")  # baseline frame: marker, length, precision, height, width
    data[sof + 5 : sof + 7] = height.to_bytes(2, "big")
    data[sof + 7 : sof + 9] = width.to_bytes(2, "big")
    return bytes(data)


def test_pixel_floods_are_refused_before_they_are_decoded(field: Field) -> None:
    report = new_report(field)
    buf = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buf, "PNG")
    assert len(buf.getvalue()) < 20_000  # ~17 KB that would decode to 144 megapixels
    png = upload(field, report["id"], buf.getvalue(), "flood.png")
    assert png.status_code == 413  # type: ignore[attr-defined]
    assert "144.0 megapixels (12000 x 12000)" in png.json()["detail"]  # type: ignore[attr-defined]
    forged = jpeg_claiming(11000, 11000)
    assert len(forged) < 1000
    big = upload(field, report["id"], forged)
    assert big.status_code == 413 and "121.0 megapixels" in big.json()["detail"]  # type: ignore[attr-defined]
    # Under the cap, a header claiming pixels the file does not carry is refused as well.
    small = upload(field, report["id"], jpeg_claiming(4000, 3000))
    assert small.status_code == 415 and "forged" in small.json()["detail"]  # type: ignore[attr-defined]
    for size in ((1200, 900), (4000, 3000)):  # the larger one is decoded at half its size
        cut = jpeg((40, 40, 40), size=size)
        cut = cut[: len(cut) // 2]
        truncated = upload(field, report["id"], cut)
        assert truncated.status_code == 415 and "truncated" in truncated.json()["detail"]  # type: ignore[attr-defined]
    kept = field.client.get(f"/api/v1/reports/{report['id']}", headers=field.headers("insp"))
    assert kept.json()["photos"] == [] and kept.json()["counted"] is True
    assert not list(get_settings().photo_store.rglob("*.*"))


def test_the_megapixel_cap_is_a_setting(field: Field, monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_settings().photo_max_megapixels == 65  # a 64 MP phone sensor: 9248 x 6936
    monkeypatch.setattr(get_settings(), "photo_max_megapixels", 1.0)
    report = new_report(field)
    over = upload(field, report["id"], jpeg(size=(1001, 1000)))
    assert over.status_code == 413  # type: ignore[attr-defined]
    assert "1.0 megapixels (1001 x 1000); at most 1 are allowed" in over.json()["detail"]  # type: ignore[attr-defined]
    assert upload(field, report["id"], jpeg(size=(1000, 1000))).status_code == 201  # type: ignore[attr-defined]


def test_a_photo_is_kept_byte_for_byte_and_pages_get_a_derived_display_copy(
    field: Field,
) -> None:
    lon, lat = CENTRES[UNITS[0]]
    img = Image.new("RGB", (3000, 2000), (90, 140, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was held upright, turn 90° to show it
    exif[IFD.GPSInfo] = {1: "N", 2: dms(lat), 3: "E", 4: dms(lon)}
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=95)
    original = buf.getvalue()
    report = new_report(field)
    out = upload(field, report["id"], original).json()  # type: ignore[attr-defined]
    assert (out["width"], out["height"]) == (3000, 2000) and out["report_counted"] is True
    stored = photo_path(out["sha256"], "jpg")
    assert stored.read_bytes() == original  # EXIF and all
    got = field.client.get(out["url"], headers=field.headers("sup"))
    assert got.content == original

    shown = field.client.get(out["display_url"], headers=field.headers("sup"))
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    assert display_path(out["sha256"]).read_bytes() == shown.content
    with Image.open(io.BytesIO(shown.content)) as copy:
        assert copy.format == "JPEG" and copy.size == (1067, 1600)  # upright, long side 1600
        assert not copy.getexif().get_ifd(IFD.GPSInfo)  # the position stays in the original
    assert len(shown.content) < len(original) / 3
    assert field.client.get(out["display_url"], headers=field.headers("other")).status_code == 404

    # A display copy gone (a restored backup holds originals only) is derived again.
    display_path(out["sha256"]).unlink()
    again = field.client.get(out["display_url"], headers=field.headers("insp"))
    assert again.status_code == 200 and again.content == shown.content


def test_a_transparent_png_is_shown_on_white_and_kept_as_png(field: Field) -> None:
    img = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    img.paste((200, 0, 0, 255), (0, 0, 200, 300))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    out = upload(field, new_report(field)["id"], buf.getvalue(), "p.png").json()  # type: ignore[attr-defined]
    assert photo_path(out["sha256"], "png").read_bytes() == buf.getvalue()
    shown = field.client.get(out["display_url"], headers=field.headers("insp"))
    with Image.open(io.BytesIO(shown.content)) as copy:
        assert copy.mode == "RGB" and copy.size == (400, 300)
        assert copy.getpixel((350, 150)) == (255, 255, 255)
        red = copy.getpixel((50, 150))
        assert red[0] > 180 and red[1] < 40  # type: ignore[index]


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


def test_rendering_pdfs_leaves_truncated_photos_refused(field: Field) -> None:
    from PIL import ImageFile

    from app.domain.pdf import render_pdf

    assert render_pdf("<p>案卷</p>").startswith(b"%PDF")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    report = new_report(field)
    cut = jpeg((40, 40, 40), size=(1200, 900))
    truncated = upload(field, report["id"], cut[: len(cut) // 2])
    assert truncated.status_code == 415 and "truncated" in truncated.json()["detail"]  # type: ignore[attr-defined]
