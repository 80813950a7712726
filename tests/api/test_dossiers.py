"""Case dossiers: a hotspot's or a cell's whole record as a ZIP whose manifest hashes match
its files; scoped; audited with the ZIP's own hash."""

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain.grid.cells import NewCell, get_cell
from app.models import Person
from tests.factories import (
    UNITS,
    X0,
    Y0,
    Field,
    hotspot_body,
    jpeg,
    make_cells,
    make_user,
    report_body,
    square,
    staffed_field,
)

LATER = (datetime.now(UTC) + timedelta(days=3)).isoformat()


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


def report_with_photo(
    field: Field, colour: tuple[int, int, int], **extra: object
) -> tuple[dict, bytes]:
    report = post(field, "/api/v1/reports", "insp", report_body(UNITS[0], **extra))
    photo = jpeg(colour)
    r = field.client.post(
        f"/api/v1/reports/{report['id']}/photos",
        files={"file": ("p.jpg", photo, "image/jpeg")},
        headers=field.headers("insp"),
    )
    assert r.status_code == 201, r.text
    return report, photo


def a_rectified_case(field: Field) -> tuple[dict, dict[str, bytes]]:
    issue, before = report_with_photo(field, (200, 30, 30), kind="issue", description="工地扬尘")
    h = post(  # the case the issue report opened when it was filed
        field,
        "/api/v1/hotspots",
        "insp",
        hotspot_body(source="patrol", report_id=issue["id"]),
        200,
    )
    hid = h["id"]
    steps = [
        ("boss", {"to": "accepted"}),
        ("sup", {"to": "dispatched", "assignee": "insp", "deadline": LATER}),
        ("insp", {"to": "rectifying"}),
    ]
    for user, body in steps:
        post(field, f"/api/v1/hotspots/{hid}/transitions", user, body, 200)
    evidence, after = report_with_photo(field, (30, 200, 30), description="已覆盖")
    post(
        field,
        f"/api/v1/hotspots/{hid}/transitions",
        "insp",
        {"to": "rectified", "note": "已覆盖防尘网", "evidence_report_id": evidence["id"]},
        200,
    )
    return h, {issue["id"]: before, evidence["id"]: after}


def unzip(content: bytes) -> tuple[dict, dict[str, bytes]]:
    z = zipfile.ZipFile(io.BytesIO(content))
    files = {name: z.read(name) for name in z.namelist()}
    return json.loads(files.pop("manifest.json")), files


def test_hotspot_dossier_holds_history_photos_map_people_and_matching_hashes(field: Field) -> None:
    h, photos = a_rectified_case(field)
    r = field.client.get(f"/api/v1/exports/hotspots/{h['id']}.zip", headers=field.headers("disc"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    manifest, files = unzip(r.content)
    assert {f["path"] for f in manifest["files"]} == set(files)
    for f in manifest["files"]:
        assert hashlib.sha256(files[f["path"]]).hexdigest() == f["sha256"]
        assert len(files[f["path"]]) == f["size"]
    assert manifest["missing_files"] == [] and manifest["generated_by"] == "disc"

    hotspot = json.loads(files["hotspot.json"])
    assert [e["to_status"] for e in hotspot["history"]] == [
        "reported",
        "accepted",
        "dispatched",
        "rectifying",
        "rectified",
    ]
    assert hotspot["cell"]["code"] == UNITS[0] and hotspot["cell"]["district"] == "红旗区"
    reports = json.loads(files["reports.json"])
    assert {r["id"] for r in reports} == set(photos)
    for report_id, data in photos.items():
        (name,) = [n for n in files if n.startswith(f"photos/{report_id}/")]
        assert files[name] == data
    people = {(p["duty"], p["username"]) for p in json.loads(files["responsible.json"])}
    assert people == {("leader", "boss"), ("member", "insp"), ("assignee", "insp")}
    kinds = [f["properties"]["kind"] for f in json.loads(files["map.geojson"])["features"]]
    assert kinds.count("cell") == 1 and kinds.count("hotspot") == 1 and kinds.count("report") == 2
    assert files["map.svg"].startswith(b"<svg")
    actions = [e["action"] for e in json.loads(files["audit.json"])]
    assert actions.count("hotspot.transition") == 4 and "hotspot.create" in actions

    entries = field.client.get(
        "/api/v1/audit", params={"action": "export.dossier"}, headers=field.headers("admin")
    ).json()["entries"]
    assert entries[0]["after"]["sha256"] == hashlib.sha256(r.content).hexdigest()


def test_cell_dossier_holds_the_periods_lapses_reports_and_photos(field: Field) -> None:
    report, photo = report_with_photo(field, (10, 10, 200))
    now = datetime.now(UTC)
    period = {"from": (now - timedelta(days=3)).isoformat(), "to": now.isoformat()}
    r = field.client.get(
        f"/api/v1/exports/cells/{UNITS[0]}.zip", params=period, headers=field.headers("cmd")
    )
    assert r.status_code == 200, r.text
    manifest, files = unzip(r.content)
    for f in manifest["files"]:
        assert hashlib.sha256(files[f["path"]]).hexdigest() == f["sha256"]
    assert [x["id"] for x in json.loads(files["reports.json"])] == [report["id"]]
    assert photo in files.values()
    lapses = json.loads(files["lapses.json"])["lapses"]
    expected = field.client.get(
        "/api/v1/lapses", params=period | {"within": UNITS[0]}, headers=field.headers("cmd")
    ).json()["lapses"]
    assert [(x["lapse"], x["start"]) for x in lapses] == [
        (x["lapse"], x["start"]) for x in expected
    ] and lapses
    assert json.loads(files["cell.json"])["street"] == "西街街道"


def test_a_missing_photo_file_is_named_in_the_manifest(field: Field) -> None:
    report, _ = report_with_photo(field, (1, 2, 3))
    for stored in get_settings().photo_store.rglob("*.jpg"):
        stored.unlink()
    now = datetime.now(UTC)
    r = field.client.get(
        f"/api/v1/exports/cells/{UNITS[0]}.zip",
        params={"from": (now - timedelta(days=1)).isoformat(), "to": now.isoformat()},
        headers=field.headers("sup"),
    )
    manifest, _ = unzip(r.content)
    assert len(manifest["missing_files"]) == 1 and report["id"] in manifest["missing_files"][0]


def test_who_may_take_a_dossier(field: Field) -> None:
    h, _ = a_rectified_case(field)
    make_cells(field.db, NewCell("410703", "卫滨区", 2, None, square(114.2, 35.3, 0.02)))
    make_user(field.db, "disc_wb", "discipline", scope="410703")
    now = datetime.now(UTC)
    period = {"from": (now - timedelta(days=1)).isoformat(), "to": now.isoformat()}
    hotspot_url = f"/api/v1/exports/hotspots/{h['id']}.zip"
    cell_url = f"/api/v1/exports/cells/{UNITS[0]}.zip"
    for user in ("insp", "boss"):  # the assignee and the leader: no exports at all
        assert field.client.get(hotspot_url, headers=field.headers(user)).status_code == 403
        assert (
            field.client.get(cell_url, params=period, headers=field.headers(user)).status_code
            == 403
        )
    assert field.client.get(hotspot_url, headers=field.headers("disc_wb")).status_code == 404
    assert (
        field.client.get(cell_url, params=period, headers=field.headers("disc_wb")).status_code
        == 404
    )
    unknown = "/api/v1/exports/hotspots/00000000-0000-0000-0000-000000000000.zip"
    assert field.client.get(unknown, headers=field.headers("disc")).status_code == 404
    street = field.client.get(
        "/api/v1/exports/cells/410702001.zip", params=period, headers=field.headers("disc")
    )
    assert street.status_code == 400 and "unit cell" in street.json()["detail"]


def test_a_scoped_reader_gets_nothing_of_another_district_through_a_dossier(field: Field) -> None:
    # The other district borders ours: its unit cell lies just west of UNITS[0].
    west = (X0 - 0.01, Y0 + 0.01)
    make_cells(
        field.db,
        NewCell("410703", "卫滨区", 2, None, square(*west)),
        NewCell("410703001001001", "卫滨一号", 5, "410703", square(*west)),
    )
    make_user(field.db, "disc_hq", "discipline", scope="410702")
    # A report filed across the border, in the other district, is linked to a case ~90 m
    # away in the reporter's own cell of ours.
    edge_lat = Y0 + 0.015
    elsewhere = report_body(UNITS[0], description="卫滨的秘密")
    elsewhere |= {"lon": X0 - 0.0005, "lat": edge_lat}
    far = post(field, "/api/v1/reports", "insp", elsewhere)
    ours = hotspot_body(report_id=far["id"]) | {"lon": X0 + 0.0005, "lat": edge_lat}
    h = post(field, "/api/v1/hotspots", "sup", ours)
    assert h["cell_code"] == UNITS[0]
    r = field.client.get(
        f"/api/v1/exports/hotspots/{h['id']}.zip", headers=field.headers("disc_hq")
    )
    assert r.status_code == 200
    _, files = unzip(r.content)
    everything = b"".join(files.values()).decode("utf-8", "replace")
    assert "卫滨的秘密" not in everything  # (the hotspot's own record keeps the link's id)
    assert far["id"] not in [r["id"] for r in json.loads(files["reports.json"])]
    assert far["id"] not in [e["target_id"] for e in json.loads(files["audit.json"])]
    # Being the assignee of a case in another district opens the case, not its dossier: the
    # command officer got it while scoped there, and has moved to our district since.
    theirs = hotspot_body() | {"lon": west[0] + 0.005, "lat": edge_lat}
    other = post(field, "/api/v1/hotspots", "admin", theirs)
    post(field, f"/api/v1/hotspots/{other['id']}/transitions", "admin", {"to": "accepted"}, 200)
    cmd = field.db.scalar(select(Person).where(Person.username == "cmd"))
    assert cmd is not None
    cmd.scope_cell_id = get_cell(field.db, "410703").id
    field.db.commit()
    step = {"to": "dispatched", "assignee": "cmd", "deadline": LATER}
    post(field, f"/api/v1/hotspots/{other['id']}/transitions", "admin", step, 200)
    cmd.scope_cell_id = get_cell(field.db, "410702").id
    field.db.commit()
    url = f"/api/v1/exports/hotspots/{other['id']}.zip"
    assert field.client.get(url, headers=field.headers("cmd")).status_code == 404
    assert field.client.get(url, headers=field.headers("disc")).status_code == 200


def test_nearby_reports_follow_the_missed_by_the_grid_radius(
    field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dossier's nearby grid reports use the radius and window of the missed-by-the-grid
    check (missed_radius_m, missed_days), not a number of their own."""
    report = post(field, "/api/v1/reports", "insp", report_body(UNITS[0]))
    case = hotspot_body() | {"lat": report["lat"] + 0.0009}  # about 100 m north
    h = post(field, "/api/v1/hotspots", "admin", case)
    url = f"/api/v1/exports/hotspots/{h['id']}.zip"

    def reports_in_dossier() -> list[str]:
        r = field.client.get(url, headers=field.headers("disc"))
        assert r.status_code == 200, r.text
        return [x["id"] for x in json.loads(unzip(r.content)[1]["reports.json"])]

    assert reports_in_dossier() == [report["id"]]
    monkeypatch.setattr(get_settings(), "missed_radius_m", 50.0)
    assert reports_in_dossier() == []
