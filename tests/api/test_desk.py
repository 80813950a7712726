"""The case desk's API: the steps offered to a reader are exactly those the transitions
endpoint takes from them; a step on a case that moved on is 409; the assignees offered are
exactly whom dispatching accepts; lists filter, sort, count and page; the case file."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain.grid.cells import NewCell, get_cell
from app.domain.hotspots import lifecycle
from app.models import Duty, Person, UserAccount
from app.models.hotspots import STATUSES
from tests.factories import (
    PASSWORD,
    SINCE,
    UNITS,
    Field,
    give_duty,
    hotspot_body,
    jpeg,
    make_cells,
    make_user,
    report_body,
    square,
    staffed_field,
)

LATER = (datetime.now(UTC) + timedelta(days=3)).isoformat()
MUCH_LATER = (datetime.now(UTC) + timedelta(days=10)).isoformat()
USERS = ("insp", "boss", "sup", "cmd", "disc", "admin")


@pytest.fixture
def field(
    client: TestClient, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Field:
    monkeypatch.setattr(get_settings(), "photo_dir", tmp_path / "photos")
    return staffed_field(client, db)


def create(field: Field, user: str = "sup", **overrides: object) -> dict:
    r = field.client.post(
        "/api/v1/hotspots", json=hotspot_body(**overrides), headers=field.headers(user)
    )
    assert r.status_code == 201, r.text
    return r.json()


def step(field: Field, hid: str, user: str, to: str, **body: object):  # type: ignore[no-untyped-def]
    return field.client.post(
        f"/api/v1/hotspots/{hid}/transitions", json={"to": to, **body}, headers=field.headers(user)
    )


def ok(field: Field, hid: str, user: str, to: str, **body: object) -> dict:
    r = step(field, hid, user, to, **body)
    assert r.status_code == 200, r.text
    return r.json()


def read(field: Field, hid: str, user: str) -> dict:
    r = field.client.get(f"/api/v1/hotspots/{hid}", headers=field.headers(user))
    assert r.status_code == 200, r.text
    return r.json()


PATH = [
    ("boss", "accepted", {}),
    ("sup", "dispatched", {"assignee": "insp", "deadline": LATER}),
    ("insp", "rectifying", {}),
    ("insp", "rectified", {"note": "已覆盖防尘网"}),
    ("boss", "closed", {}),
    ("sup", "reopened", {"note": "回头看发现复燃"}),
]
# A body each step takes when the actor may take it.
BODIES: dict[str, dict[str, object]] = {
    "accepted": {},
    "rejected": {"note": "不属实"},
    "dispatched": {"assignee": "insp", "deadline": LATER},
    "rectifying": {"note": "返工"},
    "rectified": {"note": "已整改"},
    "closed": {"note": "销号"},
    "reopened": {"note": "复燃"},
    "extend": {"deadline": MUCH_LATER},
}


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


@pytest.mark.parametrize("status", STATUSES)
def test_the_steps_offered_are_exactly_those_the_server_takes(field: Field, status: str) -> None:
    for user in USERS:
        h = walk_to(field, status)
        offered = read(field, h["id"], user)["allowed_actions"]
        assert set(offered) <= set(lifecycle.allowed_from(status))
        for to in lifecycle.allowed_from(status):
            fresh = walk_to(field, status)
            r = step(field, fresh["id"], user, to, **BODIES[to])
            assert (r.status_code == 200) == (to in offered), (status, user, to, r.text)
            if to not in offered:
                assert r.status_code in (403, 404), r.text


def test_whoever_reported_it_rectified_is_not_offered_the_close(field: Field) -> None:
    h = walk_to(field, "rectifying")
    h = ok(field, h["id"], "sup", "rectified", note="督查代为反馈")
    assert read(field, h["id"], "sup")["allowed_actions"] == ["rectifying"]
    assert step(field, h["id"], "sup", "closed").status_code == 403
    assert "closed" in read(field, h["id"], "cmd")["allowed_actions"]


def test_discipline_reads_every_case_but_is_offered_nothing(field: Field) -> None:
    for status in ("reported", "dispatched", "rectified"):
        h = walk_to(field, status)
        assert read(field, h["id"], "disc")["allowed_actions"] == []
        for to in lifecycle.allowed_from(status):
            r = step(field, h["id"], "disc", to, **BODIES[to], **{"from": status})
            assert r.status_code == 403, r.text
        assert step(field, h["id"], "disc", "flying").status_code == 409
        assert read(field, h["id"], "admin")["status"] == status


def test_a_step_on_a_case_that_moved_on_is_409_and_changes_nothing(field: Field) -> None:
    h = create(field)
    seen = read(field, h["id"], "sup")
    ok(field, h["id"], "boss", "accepted", **{"from": "reported"})
    r = step(field, h["id"], "sup", "rejected", note="重复", **{"from": "reported"})
    assert r.status_code == 409
    assert "'accepted'" in r.json()["detail"] and r.json()["detail"].startswith("from:")
    after = read(field, h["id"], "sup")
    assert after["status"] == "accepted" and len(after["history"]) == len(seen["history"]) + 1
    # Two officers extend the same deadline: the second one's view is stale.
    h = ok(field, h["id"], "sup", "dispatched", assignee="insp", deadline=LATER)
    first = {"from": "dispatched", "if_unchanged_since": h["updated_at"]}
    ok(field, h["id"], "cmd", "extend", deadline=MUCH_LATER, **first)
    later_still = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    r = step(field, h["id"], "sup", "extend", deadline=later_still, **first)
    assert r.status_code == 409 and r.json()["detail"].startswith("if_unchanged_since:")
    final = read(field, h["id"], "sup")
    assert final["extensions"] == 1
    assert datetime.fromisoformat(final["deadline"]) == datetime.fromisoformat(MUCH_LATER)
    # The status seen is what matters, not whether the step would be legal now.
    assert step(field, str(uuid.uuid4()), "sup", "accepted", **{"from": "x"}).status_code == 404


def test_the_assignees_offered_are_exactly_whom_dispatching_accepts(field: Field) -> None:
    db = field.db
    make_cells(
        db,
        NewCell("410703", "卫滨区", 2, None, square(114.2, 35.3, 0.02)),
        NewCell("410703001001001", "卫滨一号", 5, "410703", square(114.2, 35.3)),
    )
    make_user(db, "cmd_wb", "command", scope="410703")
    make_user(db, "sup_street", "supervisor", scope="410702001")
    gone = make_user(db, "gone", "inspector")
    give_duty(db, gone, UNITS[0], "patroller", valid_from=SINCE)
    db.execute(update(UserAccount).where(UserAccount.person_id == gone.id).values(is_active=False))
    past = make_user(db, "past", "inspector")  # on duty there once, not any more
    give_duty(db, past, UNITS[0], "member", valid_from=SINCE, valid_to=SINCE + timedelta(days=1))
    db.commit()
    everyone = list(db.scalars(select(Person.username).order_by(Person.username)))
    for where in (UNITS[0], UNITS[3]):
        h = create(field, "admin", lat=hotspot_body(where)["lat"], lon=hotspot_body(where)["lon"])
        ok(field, h["id"], "admin", "accepted")
        r = field.client.get(f"/api/v1/hotspots/{h['id']}/assignees", headers=field.headers("sup"))
        assert r.status_code == 200, r.text
        offered = [a["username"] for a in r.json()["assignees"]]
        accepted = []
        for username in everyone:
            trial = create(field, "admin", lat=h["lat"], lon=h["lon"])
            ok(field, trial["id"], "admin", "accepted")
            t = step(field, trial["id"], "admin", "dispatched", assignee=username, deadline=LATER)
            assert t.status_code in (200, 422), t.text
            if t.status_code == 200:
                accepted.append(username)
        assert sorted(offered) == accepted, where
    # Those on duty come first, the leader before the member.
    h = create(field, "admin")
    ok(field, h["id"], "admin", "accepted")
    listed = field.client.get(
        f"/api/v1/hotspots/{h['id']}/assignees", headers=field.headers("boss")
    ).json()["assignees"]
    assert [(a["username"], a["duties"]) for a in listed[:2]] == [
        ("boss", ["leader"]),
        ("insp", ["member"]),
    ]
    assert {"gone", "past", "disc", "cmd_wb", "admin"}.isdisjoint(a["username"] for a in listed)
    # Whoever may not dispatch it is not told who could take it.
    for user in ("disc", "insp"):
        r = field.client.get(f"/api/v1/hotspots/{h['id']}/assignees", headers=field.headers(user))
        assert r.status_code == 403, user


def test_lists_filter_sort_count_and_page(field: Field) -> None:
    a = walk_to(field, "dispatched")  # insp's, due in 3 days
    b = walk_to(field, "accepted")
    soon = (datetime.now(UTC) + timedelta(hours=5)).isoformat()
    c = ok(field, b["id"], "cmd", "dispatched", assignee="boss", deadline=soon)
    reported = create(field, source="complaint")
    h = field.headers("sup")

    def ids(**params: object) -> list[str]:
        r = field.client.get("/api/v1/hotspots", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["hotspots"]]

    assert ids(due_within_hours=24) == [c["id"]]
    assert ids(due_within_hours=24 * 4, sort="deadline") == [c["id"], a["id"]]
    assert ids(due_within_hours=24 * 4, sort="-deadline") == [a["id"], c["id"]]
    assert ids(assignee="boss") == [c["id"]] and ids(assignee="nobody") == []
    mine = field.client.get(
        "/api/v1/hotspots", params={"assignee": "me"}, headers=field.headers("insp")
    )
    assert [x["id"] for x in mine.json()["hotspots"]] == [a["id"]]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert len(ids(found_to=tomorrow)) == 3 and ids(found_from=tomorrow) == []
    counted = field.client.get(
        "/api/v1/hotspots", params={"counts": True, "status": "dispatched", "limit": 1}, headers=h
    ).json()
    assert counted["counts"]["dispatched"] == 2 and counted["counts"]["reported"] == 1
    assert counted["total"] == 2 and len(counted["hotspots"]) == 1
    assert counted["next_offset"] == 1
    assert reported["id"] in ids(status="reported")
    bad = field.client.get("/api/v1/hotspots", params={"sort": "drop table"}, headers=h)
    assert bad.status_code == 422


@pytest.mark.filterwarnings("error::sqlalchemy.exc.SADeprecationWarning")
def test_the_case_file_has_the_cell_the_roster_when_found_and_the_photos(field: Field) -> None:
    body = report_body(kind="issue", accuracy_m=300, description="河道漂浮垃圾")
    report = field.client.post("/api/v1/reports", json=body, headers=field.headers("insp")).json()
    photo = field.client.post(
        f"/api/v1/reports/{report['id']}/photos",
        files={"file": ("p.jpg", jpeg((10, 90, 200)), "image/jpeg")},
        headers=field.headers("insp"),
    ).json()
    [case] = field.client.get("/api/v1/hotspots", headers=field.headers("cmd")).json()["hotspots"]
    # The leader leaves after the case was found: the file still names who was on duty then.
    field.db.execute(
        update(Duty)
        .where(Duty.duty == "leader", Duty.cell_id == get_cell(field.db, UNITS[0]).id)
        .values(valid_to=datetime.now(UTC) + timedelta(seconds=1))
    )
    field.db.commit()
    f = field.client.get(f"/api/v1/hotspots/{case['id']}/file", headers=field.headers("cmd"))
    assert f.status_code == 200, f.text
    file = f.json()
    assert file["cell"]["code"] == UNITS[0] and file["cell"]["geometry"]["type"] == "MultiPolygon"
    assert file["cell"]["ancestors"] == ["红旗区", "西街街道"]
    assert {(d["duty"], d["username"]) for d in file["roster"]} == {
        ("leader", "boss"),
        ("member", "insp"),
    }
    [finding] = file["reports"]
    assert finding["role"] == "finding" and finding["flags"] == ["low_accuracy"]
    assert finding["counted"] is False and finding["description"] == "河道漂浮垃圾"
    assert [p["display_url"] for p in finding["photos"]] == [photo["display_url"]]
    assert field.client.get(photo["display_url"], headers=field.headers("cmd")).status_code == 200
    assert file["names"] == {"insp": "insp名"}
    # Evidence reports join the file as they are given.
    ok(field, case["id"], "cmd", "accepted")
    ok(field, case["id"], "cmd", "dispatched", assignee="insp", deadline=LATER)
    ok(field, case["id"], "insp", "rectifying")
    evidence = field.client.post(
        "/api/v1/reports", json=report_body(), headers=field.headers("insp")
    ).json()
    ok(field, case["id"], "insp", "rectified", note="已清理", evidence_report_id=evidence["id"])
    again = field.client.get(f"/api/v1/hotspots/{case['id']}/file", headers=field.headers("cmd"))
    assert [r["role"] for r in again.json()["reports"]] == ["finding", "evidence"]
    # Someone who may not see the case gets nothing of it.
    for user in ("other",):
        r = field.client.get(f"/api/v1/hotspots/{case['id']}/file", headers=field.headers(user))
        assert r.status_code == 404


def sign_in_page(client: TestClient, username: str) -> None:
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/desk"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/desk"


def test_the_desk_page_is_for_the_command_office_and_those_beside_it(field: Field) -> None:
    c = field.client
    r = c.get("/desk", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fdesk")
    there = c.get("/desk?status=rectified&case=x", follow_redirects=False).headers["location"]
    assert parse_qs(urlsplit(there).query)["next"] == ["/desk?status=rectified&case=x"]
    sign_in_page(c, "insp")
    assert c.get("/desk").status_code == 403
    for user in ("cmd", "sup", "boss", "disc", "admin"):
        c.cookies.clear()
        sign_in_page(c, user)
        page = c.get("/desk")
        assert page.status_code == 200, user
        for hook in ("case-list", "case-filter-status", "case-detail"):
            assert f'data-testid="{hook}"' in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp  # no inline script: nothing else may run
    english = c.get("/desk?lang=en")
    assert "case desk" in english.text and "攻坚办" not in english.text
