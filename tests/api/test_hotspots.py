"""Hotspots: the full case lifecycle, every illegal step, permissions, missed-by-the-grid."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from app.domain.grid.cells import get_cell
from app.domain.hotspots import lifecycle
from app.models import CellStatus
from app.models.hotspots import STATUSES
from tests.factories import CENTRES, UNITS, Field, hotspot_body, report_body, staffed_field

LATER = (datetime.now(UTC) + timedelta(days=3)).isoformat()


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    return staffed_field(client, db)


def create(field: Field, user: str = "sup", **overrides: object) -> dict:
    r = field.client.post(
        "/api/v1/hotspots", json=hotspot_body(**overrides), headers=field.headers(user)
    )
    assert r.status_code == 201, r.text
    return r.json()


def step(field: Field, hid: str, user: str, to: str, **body: object) -> object:
    return field.client.post(
        f"/api/v1/hotspots/{hid}/transitions", json={"to": to, **body}, headers=field.headers(user)
    )


def ok(field: Field, hid: str, user: str, to: str, **body: object) -> dict:
    r = step(field, hid, user, to, **body)
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    return r.json()  # type: ignore[attr-defined]


# A legal path to every status: (user, step, body).
PATH = [
    ("boss", "accepted", {"note": "立案"}),
    ("sup", "dispatched", {"assignee": "insp", "deadline": LATER, "note": "派遣"}),
    ("insp", "rectifying", {"note": "开始整改"}),
    ("insp", "rectified", {"note": "已覆盖防尘网"}),
    ("boss", "closed", {"note": "核查通过，销号"}),
    ("sup", "reopened", {"note": "回头看发现复燃", "reason": "relapse"}),
]


def walk_to(field: Field, status: str) -> dict:
    h = create(field)
    if status == "rejected":
        return ok(field, h["id"], "boss", "rejected", note="不属实")
    for user, to, body in PATH:
        if h["status"] == status:
            break
        h = ok(field, h["id"], user, to, **body)
    assert h["status"] == status
    return h


def test_the_whole_case_is_recorded_with_actor_time_and_note(field: Field) -> None:
    h = walk_to(field, "reopened")
    h = ok(field, h["id"], "cmd", "dispatched", assignee="insp", deadline=LATER, note="再派遣")
    history = h["history"]
    assert [(e["from_status"], e["to_status"]) for e in history] == [
        (None, "reported"),
        ("reported", "accepted"),
        ("accepted", "dispatched"),
        ("dispatched", "rectifying"),
        ("rectifying", "rectified"),
        ("rectified", "closed"),
        ("closed", "reopened"),
        ("reopened", "dispatched"),
    ]
    assert [e["actor"] for e in history] == [
        "sup",
        "boss",
        "sup",
        "insp",
        "insp",
        "boss",
        "sup",
        "cmd",
    ]
    assert history[4]["note"] == "已覆盖防尘网" and history[6]["reason"] == "relapse"
    assert all(e["at"] for e in history)
    assert h["reopens"] == 1 and h["assignee"] == "insp" and h["status"] == "dispatched"


@pytest.mark.parametrize("status", STATUSES)
def test_every_illegal_step_is_409_and_changes_nothing(field: Field, status: str) -> None:
    h = walk_to(field, status)
    before = field.client.get(f"/api/v1/hotspots/{h['id']}", headers=field.headers("admin"))
    illegal = [
        s for s in (*STATUSES, "extend", "flying") if s not in lifecycle.allowed_from(status)
    ]
    for to in illegal:
        r = step(field, h["id"], "admin", to, note="x", assignee="insp", deadline=LATER)
        assert r.status_code == 409, (status, to)  # type: ignore[attr-defined]
        detail = r.json()["detail"]  # type: ignore[attr-defined]
        assert f"status {status!r}" in detail and "allowed:" in detail
    after = field.client.get(f"/api/v1/hotspots/{h['id']}", headers=field.headers("admin"))
    assert after.json() == before.json()


def test_rework_and_extensions_are_counted(field: Field) -> None:
    h = walk_to(field, "rectified")
    h = ok(field, h["id"], "boss", "rectifying", note="返工：仍有裸土")
    assert h["reworks"] == 1
    later = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    h = ok(field, h["id"], "sup", "extend", deadline=later, note="延期")
    assert h["extensions"] == 1 and h["status"] == "rectifying"
    assert h["history"][-1]["action"] == "extend"
    earlier = step(field, h["id"], "sup", "extend", deadline=LATER)
    assert earlier.status_code == 400  # type: ignore[attr-defined]
    even_later = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    by_leader = step(field, h["id"], "boss", "extend", deadline=even_later)
    assert by_leader.status_code == 403  # type: ignore[attr-defined]


def test_sending_back_for_rework_needs_a_note_and_without_one_changes_nothing(
    field: Field,
) -> None:
    h = walk_to(field, "rectified")
    for body in ({}, {"note": ""}):
        r = step(field, h["id"], "boss", "rectifying", **body)
        assert r.status_code == 400  # type: ignore[attr-defined]
        assert "rework" in r.json()["detail"] and "note" in r.json()["detail"]  # type: ignore[attr-defined]
    after = field.client.get(f"/api/v1/hotspots/{h['id']}", headers=field.headers("admin"))
    assert after.json()["status"] == "rectified" and after.json()["reworks"] == 0
    assert after.json()["history"] == h["history"]


def test_closer_must_not_be_who_reported_it_rectified(field: Field) -> None:
    h = create(field)
    ok(field, h["id"], "sup", "accepted")
    ok(field, h["id"], "sup", "dispatched", assignee="boss", deadline=LATER)
    ok(field, h["id"], "boss", "rectifying")
    ok(field, h["id"], "boss", "rectified", note="已整改")
    own = step(field, h["id"], "boss", "closed")
    assert own.status_code == 403  # type: ignore[attr-defined]
    assert "cannot verify and close" in own.json()["detail"]  # type: ignore[attr-defined]
    assert ok(field, h["id"], "sup", "closed")["status"] == "closed"


@pytest.mark.parametrize(
    ("user", "to", "status"),
    [
        ("insp", "accepted", 403),  # inspectors do not judge cases
        ("disc", "accepted", 403),  # discipline is read-only
        ("other", "accepted", 404),  # cannot even see it
        ("boss", "accepted", 200),  # leader of the cell
        ("cmd", "accepted", 200),  # command office in scope
    ],
)
def test_who_may_accept(field: Field, user: str, to: str, status: int) -> None:
    h = create(field)
    assert step(field, h["id"], user, to).status_code == status  # type: ignore[attr-defined]


def test_only_the_assignee_or_scope_reports_work(field: Field) -> None:
    h = walk_to(field, "dispatched")
    assert step(field, h["id"], "boss", "rectifying").status_code == 403  # type: ignore[attr-defined]
    assert step(field, h["id"], "insp", "rectifying").status_code == 200  # type: ignore[attr-defined]
    no_note = step(field, h["id"], "insp", "rectified")
    assert no_note.status_code == 400  # type: ignore[attr-defined]


def test_dispatch_needs_assignee_and_future_deadline(field: Field) -> None:
    h = walk_to(field, "accepted")
    assert step(field, h["id"], "sup", "dispatched").status_code == 400  # type: ignore[attr-defined]
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    r = step(field, h["id"], "sup", "dispatched", assignee="insp", deadline=past)
    assert r.status_code == 400  # type: ignore[attr-defined]
    r = step(field, h["id"], "sup", "dispatched", assignee="ghost", deadline=LATER)
    assert r.status_code == 404  # type: ignore[attr-defined]


def test_create_permissions_and_idempotency(field: Field) -> None:
    assert (
        field.client.post(
            "/api/v1/hotspots", json=hotspot_body(), headers=field.headers("disc")
        ).status_code
        == 403
    )
    # An inspector's `issue` report opened its case when filed: asking for a patrol case from
    # it answers that case (200), in their own cells only.
    for cell, status in ((UNITS[3], 403), (UNITS[0], 200)):  # UNITS[3] is not one of insp's
        issue = field.client.post(
            "/api/v1/reports", json=report_body(cell, kind="issue"), headers=field.headers("insp")
        ).json()
        r = field.client.post(
            "/api/v1/hotspots",
            json=hotspot_body(cell, source="patrol", report_id=issue["id"]),
            headers=field.headers("insp"),
        )
        assert r.status_code == status, r.text
    body = hotspot_body(id=str(uuid.uuid4()))
    first = field.client.post("/api/v1/hotspots", json=body, headers=field.headers("sup"))
    again = field.client.post("/api/v1/hotspots", json=body, headers=field.headers("sup"))
    clash = field.client.post(
        "/api/v1/hotspots", json={**body, "description": "别的"}, headers=field.headers("sup")
    )
    assert (first.status_code, again.status_code, clash.status_code) == (201, 200, 409)


def test_patrol_hotspot_comes_from_an_issue_report(field: Field) -> None:
    report = field.client.post(
        "/api/v1/reports", json=report_body(kind="issue"), headers=field.headers("insp")
    ).json()
    r = field.client.post(
        "/api/v1/hotspots",
        json=hotspot_body(source="patrol", report_id=report["id"]),
        headers=field.headers("insp"),
    )
    assert r.status_code == 200, r.text  # the case the report opened
    h = r.json()
    assert h["report_id"] == report["id"] and h["missed_by_grid"] is False
    plain = field.client.post("/api/v1/reports", json=report_body(), headers=field.headers("insp"))
    r = field.client.post(
        "/api/v1/hotspots",
        json=hotspot_body(source="patrol", report_id=plain.json()["id"]),
        headers=field.headers("insp"),
    )
    assert r.status_code == 400


def test_missed_by_the_grid(field: Field) -> None:
    assert create(field, source="complaint")["missed_by_grid"] is True
    lon, lat = CENTRES[UNITS[0]]
    seen = report_body(
        kind="issue", observed_at=(datetime.now(UTC) - timedelta(days=2)).isoformat()
    )
    field.client.post("/api/v1/reports", json=seen, headers=field.headers("insp"))
    near = create(field, source="inspection", lat=lat + 0.001)  # ~110 m away
    assert near["missed_by_grid"] is False
    far = create(field, source="fire_point", lat=lat + 0.003)  # ~330 m away
    assert far["missed_by_grid"] is True
    monitoring = create(field, source="monitoring", lat=lat + 0.003)
    assert monitoring["missed_by_grid"] is False  # not a source that can be missed
    old = create(
        field, source="complaint", found_at=(datetime.now(UTC) - timedelta(days=3)).isoformat()
    )
    assert old["missed_by_grid"] is True  # the issue report came after it was found


def test_cell_summary_counts_open_and_running_deadlines(field: Field) -> None:
    a = create(field)
    b = create(field)
    ok(field, a["id"], "boss", "rejected", note="重复")
    ok(field, b["id"], "boss", "accepted")
    ok(field, b["id"], "boss", "dispatched", assignee="insp", deadline=LATER)
    status = field.db.scalar(
        select(CellStatus).where(CellStatus.cell_id == get_cell(field.db, UNITS[0]).id)
    )
    assert status is not None
    field.db.refresh(status)
    assert status.open_hotspots == 1 and len(status.running_deadlines) == 1
    assert status.next_deadline == status.running_deadlines[0]


def test_list_filters_and_overdue(field: Field) -> None:
    a = walk_to(field, "dispatched")
    field.db.execute(
        text("UPDATE hotspots SET deadline = now() - interval '1 hour' WHERE id = :id"),
        {"id": a["id"]},
    )
    field.db.commit()
    create(field, source="complaint")
    h = field.headers("sup")
    overdue = field.client.get("/api/v1/hotspots", params={"overdue": True}, headers=h).json()
    assert [x["id"] for x in overdue["hotspots"]] == [a["id"]] and overdue["hotspots"][0]["overdue"]
    complaints = field.client.get("/api/v1/hotspots", params={"source": "complaint"}, headers=h)
    assert len(complaints.json()["hotspots"]) == 1
    within = field.client.get("/api/v1/hotspots", params={"within": UNITS[1]}, headers=h)
    assert within.json()["hotspots"] == []
    by_status = field.client.get("/api/v1/hotspots", params={"status": ["dispatched"]}, headers=h)
    assert [x["id"] for x in by_status.json()["hotspots"]] == [a["id"]]
    assert (
        field.client.get("/api/v1/hotspots", headers=field.headers("other")).json()["hotspots"]
        == []
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"lat": 999},
        {"lon": "NaN"},
        {"source": "rumour"},
        {"category": "x" * 100},
        {"description": ""},
        {"description": "x" * 5000},
        {"found_at": "2026-01-01T00:00:00"},
        {"found_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()},
        {"id": "nope"},
        {"report_id": "00000000-0000-0000-0000-000000000000"},
    ],
)
def test_hostile_hotspot_input_is_4xx(field: Field, overrides: dict[str, object]) -> None:
    r = field.client.post(
        "/api/v1/hotspots", json=hotspot_body(**overrides), headers=field.headers("sup")
    )
    assert 400 <= r.status_code < 500, r.text


def test_hostile_transition_input_is_4xx(field: Field) -> None:
    h = create(field)
    for body in (
        {"to": "x" * 100},
        {"to": None},
        {"to": "accepted", "note": "x" * 5000},
        {"to": "dispatched", "deadline": "soon"},
    ):
        r = field.client.post(
            f"/api/v1/hotspots/{h['id']}/transitions", json=body, headers=field.headers("sup")
        )
        assert 400 <= r.status_code < 500
    r = field.client.post(
        "/api/v1/hotspots/not-a-uuid/transitions",
        json={"to": "accepted"},
        headers=field.headers("sup"),
    )
    assert r.status_code == 422


def test_concurrent_hotspots_in_one_cell_keep_the_summary_exact(
    field: Field, engine: Engine
) -> None:
    """Two transactions create hotspots in one cell; the second recomputes the summary while
    the first has not committed yet. The summary must count both."""
    import threading
    import time

    from app.db import make_sessionmaker
    from app.domain.hotspots.cases import Actor, HotspotData
    from app.domain.hotspots.opening import create_hotspot
    from app.domain.people.scope import Viewer
    from app.models import Person

    sup = field.db.scalar(select(Person).where(Person.username == "sup"))
    assert sup is not None
    actor = Actor("sup", Viewer.of(sup))
    lon, lat = CENTRES[UNITS[0]]
    data = HotspotData(lat=lat, lon=lon, category="dust", description="并发", source="inspection")
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with make_sessionmaker(engine)() as s, s.begin():
                create_hotspot(s, actor=actor, data=data)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with make_sessionmaker(engine)() as first:
        create_hotspot(first, actor=actor, data=data)  # written, not yet committed
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)  # the second transaction is now waiting on the cell
        first.commit()
    thread.join(timeout=30)
    assert not errors
    status = field.db.scalar(
        select(CellStatus).where(CellStatus.cell_id == get_cell(field.db, UNITS[0]).id)
    )
    assert status is not None
    field.db.refresh(status)
    assert status.open_hotspots == 2


def test_evidence_must_be_a_visible_report_from_the_cell(
    field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import get_settings

    monkeypatch.setattr(get_settings(), "require_photo_evidence", True)
    h = walk_to(field, "rectifying")
    others = field.client.post(
        "/api/v1/reports", json=report_body(UNITS[3]), headers=field.headers("other")
    ).json()
    r = step(field, h["id"], "insp", "rectified", note="已整改", evidence_report_id=others["id"])
    assert r.status_code == 404  # type: ignore[attr-defined]
    elsewhere = field.client.post(
        "/api/v1/reports", json=report_body(UNITS[1]), headers=field.headers("insp")
    ).json()
    r = step(field, h["id"], "insp", "rectified", note="已整改", evidence_report_id=elsewhere["id"])
    assert r.status_code == 400  # type: ignore[attr-defined]
    here = field.client.post(
        "/api/v1/reports", json=report_body(UNITS[0]), headers=field.headers("insp")
    ).json()
    no_photo = step(
        field, h["id"], "insp", "rectified", note="已整改", evidence_report_id=here["id"]
    )
    assert no_photo.status_code == 400  # type: ignore[attr-defined]
    assert "photo evidence is required" in no_photo.json()["detail"]  # type: ignore[attr-defined]


def test_a_rejected_complaint_is_not_a_missed_problem(field: Field) -> None:
    h = create(field, source="complaint")
    gaps = field.client.get("/api/v1/gaps", headers=field.headers("sup")).json()
    assert "missed_problem" in {c["code"]: c["reasons"] for c in gaps["cells"]}[UNITS[0]]
    ok(field, h["id"], "sup", "rejected", note="经核查不属实")
    gaps = field.client.get("/api/v1/gaps", headers=field.headers("sup")).json()
    assert "missed_problem" not in {c["code"]: c["reasons"] for c in gaps["cells"]}.get(
        UNITS[0], []
    )


def test_a_taken_hotspot_id_reveals_nothing(field: Field) -> None:
    body = hotspot_body(UNITS[3], id=str(uuid.uuid4()))
    assert (
        field.client.post("/api/v1/hotspots", json=body, headers=field.headers("sup")).status_code
        == 201
    )
    again = field.client.post("/api/v1/hotspots", json=body, headers=field.headers("insp"))
    assert again.status_code == 409 and "history" not in again.text
