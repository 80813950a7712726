"""Who may open which case where, from which report, and who may be given one (SPEC §4, §7;
app/domain/hotspots/rules.py): no forged "missed by the grid" cases, no dispatch to anyone."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.domain.errors import Forbidden
from app.domain.grid.cells import NewCell, get_cell
from app.domain.hotspots.cases import Actor, HotspotData
from app.domain.hotspots.opening import create_hotspot
from app.models import Duty, Person
from tests.factories import (
    CENTRES,
    UNITS,
    X0,
    Y0,
    Field,
    hotspot_body,
    make_cells,
    make_user,
    report_body,
    square,
    staffed_field,
)

LATER = (datetime.now(UTC) + timedelta(days=3)).isoformat()
OTHER_DISTRICT = "410703001001001"
OTHER_CENTRE = (114.205, 35.305)
OUTSIDE_SOURCES = ("inspection", "complaint", "fire_point", "monitoring")


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    f = staffed_field(client, db)
    make_cells(
        db,
        NewCell("410703", "卫滨区", 2, None, square(114.2, 35.3, 0.02)),
        NewCell(OTHER_DISTRICT, "卫滨一号", 5, "410703", square(114.2, 35.3)),
    )
    make_user(db, "cmd_wb", "command", scope="410703")
    return f


def post_hotspot(field: Field, user: str, body: dict[str, object]) -> Response:
    return field.client.post("/api/v1/hotspots", json=body, headers=field.headers(user))


def issue_report(
    field: Field, user: str = "insp", cell: str = UNITS[0], **overrides: object
) -> dict[str, object]:
    r = field.client.post(
        "/api/v1/reports",
        json=report_body(cell, kind="issue", description="工地扬尘", **overrides),
        headers=field.headers(user),
    )
    assert r.status_code == 201, r.text
    return r.json()


def at(lon: float, lat: float, **overrides: object) -> dict[str, object]:
    return hotspot_body(UNITS[0], **overrides) | {"lon": lon, "lat": lat}


# --- creating ---------------------------------------------------------------------------------


def test_the_forged_missed_case_of_the_finding_is_refused(field: Field) -> None:
    """An inspector's own report, attached to a back-dated inspection case in another
    district, made it a missed problem of that district's staff."""
    report = issue_report(field)
    forged = at(
        *OTHER_CENTRE,
        source="inspection",
        report_id=report["id"],
        found_at=(datetime.now(UTC) - timedelta(days=3)).isoformat(),
    )
    r = post_hotspot(field, "insp", forged)
    assert r.status_code == 403 and r.json()["detail"].startswith("source:")
    as_patrol = post_hotspot(field, "insp", forged | {"source": "patrol"})
    assert 400 <= as_patrol.status_code < 500
    everything = field.client.get("/api/v1/hotspots", headers=field.headers("admin")).json()
    # Only the case the report opened itself, where it was made.
    assert [(h["source"], h["cell_code"]) for h in everything["hotspots"]] == [("patrol", UNITS[0])]


@pytest.mark.parametrize("source", OUTSIDE_SOURCES)
@pytest.mark.parametrize(
    ("user", "status"),
    [("insp", 403), ("boss", 403), ("disc", 403), ("sup", 201), ("cmd", 201), ("admin", 201)],
)
def test_only_officers_open_cases_from_outside_the_grid(
    field: Field, source: str, user: str, status: int
) -> None:
    r = post_hotspot(field, user, hotspot_body(UNITS[0], source=source))
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["detail"].startswith("source:")


def test_officers_open_outside_cases_only_within_their_scope(field: Field) -> None:
    theirs = at(*OTHER_CENTRE, source="fire_point")
    assert post_hotspot(field, "cmd", theirs).status_code == 403
    assert post_hotspot(field, "cmd_wb", theirs).status_code == 201
    assert post_hotspot(field, "cmd_wb", hotspot_body(UNITS[0])).status_code == 403
    assert post_hotspot(field, "admin", theirs).status_code == 201


def test_an_external_channel_files_complaints_only(db: Session, field: Field) -> None:
    lon, lat = CENTRES[UNITS[0]]
    data = HotspotData(lat=lat, lon=lon, category="dust", description="热线", source="inspection")
    with pytest.raises(Forbidden, match="external channel"):
        create_hotspot(db, actor=Actor(label="open311:1"), data=data, channel="open311:1")
    db.rollback()


@pytest.mark.parametrize("user", ["insp", "boss"])
def test_grid_staff_open_patrol_cases_from_their_own_issue_reports(field: Field, user: str) -> None:
    report = issue_report(field, user)
    r = post_hotspot(field, user, hotspot_body(source="patrol", report_id=report["id"]))
    assert r.status_code == 200, r.text  # the report opened it when filed: it is answered
    assert r.json()["report_id"] == report["id"] and r.json()["missed_by_grid"] is False
    assert r.json()["created_by"] == user and r.json()["status"] == "reported"


def test_a_patrol_case_comes_from_ones_own_report(field: Field) -> None:
    report = issue_report(field, "insp")
    r = post_hotspot(field, "boss", hotspot_body(source="patrol", report_id=report["id"]))
    assert r.status_code == 403 and r.json()["detail"].startswith("report_id:")
    for user in ("cmd", "admin"):  # they file no reports: no patrol cases either
        r = post_hotspot(field, user, hotspot_body(source="patrol", report_id=report["id"]))
        assert r.status_code == 403 and r.json()["detail"].startswith("source:")


def test_a_case_from_a_report_lies_near_it(field: Field) -> None:
    report = issue_report(field)  # at the centre of UNITS[0]
    lon, lat = CENTRES[UNITS[0]]
    near = post_hotspot(
        field, "insp", at(lon, lat + 0.0015, source="patrol", report_id=report["id"])
    )
    assert near.status_code == 200, near.text  # ~167 m north, same cell: the report's case
    far = post_hotspot(
        field, "insp", at(lon, lat + 0.0025, source="patrol", report_id=report["id"])
    )
    assert far.status_code == 422  # ~278 m north, still the inspector's own cell
    assert far.json()["detail"].startswith("lat/lon:") and "200 m" in far.json()["detail"]
    # The same holds when an officer links someone's report to an outside case.
    linked = at(lon + 0.0035, lat, source="inspection", report_id=report["id"])  # ~318 m east
    assert post_hotspot(field, "sup", linked).status_code == 422


def test_a_case_from_a_report_lies_in_the_reporters_cells(field: Field) -> None:
    """UNITS[0] (西北, the inspector's) lies north of UNITS[2] (西南, not theirs)."""
    edge = Y0 + 0.01
    report = issue_report(field, lat=edge + 0.0005, lon=X0 + 0.005)
    across = at(X0 + 0.005, edge - 0.0005, source="patrol", report_id=report["id"])  # ~111 m
    r = post_hotspot(field, "insp", across)
    assert r.status_code == 403 and r.json()["detail"].startswith("lat/lon:")
    assert post_hotspot(field, "sup", across | {"source": "inspection"}).status_code == 403
    own_side = across | {"lat": edge + 0.0002}
    assert post_hotspot(field, "insp", own_side).status_code == 200  # the report's own case


def test_the_reporters_cells_are_those_of_the_reports_time(field: Field) -> None:
    """A report made on duty and synced after the duty ended still opens its case; a report
    made after the duty ended does not."""
    insp = field.db.scalar(select(Person).where(Person.username == "insp"))
    assert insp is not None
    ended = datetime.now(UTC) - timedelta(hours=1)
    before_end = issue_report(field, observed_at=(ended - timedelta(hours=1)).isoformat())
    field.db.execute(
        update(Duty)
        .where(Duty.person_id == insp.id, Duty.cell_id == get_cell(field.db, UNITS[0]).id)
        .values(valid_to=ended)
    )
    field.db.commit()
    after_end = issue_report(field)
    ok = post_hotspot(field, "insp", hotspot_body(source="patrol", report_id=before_end["id"]))
    assert ok.status_code == 200, ok.text
    refused = post_hotspot(field, "insp", hotspot_body(source="patrol", report_id=after_end["id"]))
    assert refused.status_code == 403


def test_found_at_is_not_before_the_report_nor_in_the_future(field: Field) -> None:
    observed = datetime.now(UTC) - timedelta(hours=1)
    report = issue_report(field, observed_at=observed.isoformat())
    earlier = (observed - timedelta(days=2)).isoformat()
    for user, source in (("insp", "patrol"), ("sup", "inspection")):
        body = hotspot_body(source=source, report_id=report["id"], found_at=earlier)
        r = post_hotspot(field, user, body)
        assert r.status_code == 422 and r.json()["detail"].startswith("found_at:"), r.text
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = post_hotspot(field, "sup", hotspot_body(found_at=future))
    assert r.status_code == 422 and r.json()["detail"].startswith("found_at:")
    same = hotspot_body(source="patrol", report_id=report["id"], found_at=observed.isoformat())
    h = post_hotspot(field, "insp", same)
    assert h.status_code == 200  # the case the report opened, found when the report saw it
    assert datetime.fromisoformat(h.json()["found_at"]) == observed


def test_a_report_dated_in_the_future_opens_its_case_found_now(field: Field) -> None:
    future = datetime.now(UTC) + timedelta(days=30)
    report = issue_report(field, observed_at=future.isoformat())  # stored, flagged future_time
    assert report["flags"] == ["future_time"]
    r = post_hotspot(field, "insp", hotspot_body(source="patrol", report_id=report["id"]))
    assert r.status_code == 422 and r.json()["detail"].startswith("found_at:")
    cases = field.client.get("/api/v1/hotspots", headers=field.headers("admin")).json()
    [case] = cases["hotspots"]
    assert case["report_id"] == report["id"] and case["status"] == "reported"
    assert datetime.fromisoformat(case["found_at"]) < future  # never found in the future


# --- dispatching ------------------------------------------------------------------------------


def accepted_case(field: Field) -> str:
    h = post_hotspot(field, "sup", hotspot_body(UNITS[0]))
    assert h.status_code == 201, h.text
    hid = str(h.json()["id"])
    step(field, hid, "sup", "accepted")
    return hid


def step(field: Field, hid: str, user: str, to: str, **body: object) -> Response:
    return field.client.post(
        f"/api/v1/hotspots/{hid}/transitions", json={"to": to, **body}, headers=field.headers(user)
    )


@pytest.mark.parametrize(
    ("assignee", "status"),
    [
        ("insp", 200),  # member on duty in the cell
        ("boss", 200),  # its leader
        ("sup", 200),  # supervisor, unscoped
        ("cmd", 200),  # command office, scope covers the cell
        ("disc", 422),  # discipline judges cases, never gets one
        ("other", 422),  # inspector on duty elsewhere
        ("cmd_wb", 422),  # command office of another district
    ],
)
def test_who_may_be_given_a_case(field: Field, assignee: str, status: int) -> None:
    hid = accepted_case(field)
    r = step(field, hid, "sup", "dispatched", assignee=assignee, deadline=LATER)
    assert r.status_code == status, r.text
    if status == 422:
        assert r.json()["detail"].startswith(f"assignee: {assignee!r}")
        after = field.client.get(f"/api/v1/hotspots/{hid}", headers=field.headers("sup")).json()
        assert after["status"] == "accepted" and after["assignee"] is None


def test_a_duty_that_has_ended_gives_no_case(field: Field) -> None:
    insp = field.db.scalar(select(Person).where(Person.username == "insp"))
    assert insp is not None
    field.db.execute(
        update(Duty)
        .where(Duty.person_id == insp.id)
        .values(valid_to=datetime.now(UTC) - timedelta(minutes=1))
    )
    field.db.commit()
    hid = accepted_case(field)
    assert step(field, hid, "sup", "dispatched", assignee="insp", deadline=LATER).status_code == 422


def test_a_reopened_case_is_dispatched_by_the_same_rule(field: Field) -> None:
    hid = accepted_case(field)
    assert step(field, hid, "sup", "dispatched", assignee="insp", deadline=LATER).status_code == 200
    for user, to, note in (
        ("insp", "rectifying", None),
        ("insp", "rectified", "已整改"),
        ("boss", "closed", None),
        ("sup", "reopened", "回头看发现复燃"),
    ):
        assert step(field, hid, user, to, note=note).status_code == 200
    for assignee in ("disc", "other", "cmd_wb"):
        r = step(field, hid, "sup", "dispatched", assignee=assignee, deadline=LATER)
        assert r.status_code == 422, (assignee, r.text)
    assert step(field, hid, "sup", "dispatched", assignee="boss", deadline=LATER).status_code == 200
