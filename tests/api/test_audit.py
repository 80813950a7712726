"""The audit trail: every write appends a chained entry; tampering is found; the log is
append-only for the application; scoped readers see only their cells' entries."""

import hashlib
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import make_sessionmaker
from app.domain import audit
from app.domain.grid.cells import NewCell
from app.main import create_app
from tests.factories import (
    CENTRES,
    PASSWORD,
    UNITS,
    Field,
    hotspot_body,
    jpeg,
    make_cells,
    make_user,
    report_body,
    square,
    staffed_field,
)


@pytest.fixture
def field(
    client: TestClient, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Field:
    monkeypatch.setattr(get_settings(), "photo_dir", tmp_path / "photos")
    monkeypatch.setattr(get_settings(), "open311_keys", "hotline-key")
    return staffed_field(client, db)


def entries(field: Field, user: str = "admin", **params: object) -> list[dict]:
    r = field.client.get("/api/v1/audit", params=params, headers=field.headers(user))
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def verify(field: Field, full: bool = False) -> dict:
    r = field.client.get(
        "/api/v1/audit/verify", params={"full": full}, headers=field.headers("admin")
    )
    assert r.status_code == 200, r.text
    return r.json()


def post(field: Field, path: str, user: str, body: object, status: int = 201) -> dict:
    r = field.client.post(path, json=body, headers=field.headers(user))
    assert r.status_code == status, r.text
    return r.json()


# --- every write route appends an entry ---------------------------------------------------
# One scenario per write route of the OpenAPI document: (who acts, the action expected, run).
# A new write route without a scenario here fails test_every_write_route_has_a_scenario.


def _report(field: Field) -> None:
    post(field, "/api/v1/reports", "insp", report_body())


def _batch(field: Field) -> None:
    post(field, "/api/v1/reports/batch", "insp", [report_body(), report_body()], 200)


def _review(field: Field) -> None:
    flagged = post(field, "/api/v1/reports", "insp", report_body(accuracy_m=500))
    post(field, f"/api/v1/reports/{flagged['id']}/review", "sup", {"decision": "accept"}, 200)


def _photo(field: Field) -> None:
    report = post(field, "/api/v1/reports", "insp", report_body())
    r = field.client.post(
        f"/api/v1/reports/{report['id']}/photos",
        files={"file": ("p.jpg", jpeg(), "image/jpeg")},
        headers=field.headers("insp"),
    )
    assert r.status_code == 201, r.text


def _patrol(field: Field) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    body = {
        "id": str(uuid.uuid4()),
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=20)).isoformat(),
        "track": {"type": "LineString", "coordinates": [CENTRES[UNITS[0]], CENTRES[UNITS[1]]]},
    }
    post(field, "/api/v1/patrols", "insp", body)


def _hotspot(field: Field) -> None:
    post(field, "/api/v1/hotspots", "sup", hotspot_body())


def _transition(field: Field) -> None:
    h = post(field, "/api/v1/hotspots", "sup", hotspot_body())
    post(field, f"/api/v1/hotspots/{h['id']}/transitions", "boss", {"to": "accepted"}, 200)


def _source(field: Field) -> dict:
    lon, lat = CENTRES[UNITS[0]]
    return post(
        field,
        "/api/v1/sources",
        "insp",
        {"type": "outfall", "name": "排口", "lat": lat, "lon": lon},
    )


def _source_patch(field: Field) -> None:
    s = _source(field)
    r = field.client.patch(
        f"/api/v1/sources/{s['id']}", json={"name": "排口二"}, headers=field.headers("insp")
    )
    assert r.status_code == 200, r.text


def _source_delete(field: Field) -> None:
    s = _source(field)
    r = field.client.delete(f"/api/v1/sources/{s['id']}", headers=field.headers("sup"))
    assert r.status_code == 204, r.text


def _open311(field: Field, path: str = "/open311/v2/requests.json") -> None:
    lon, lat = CENTRES[UNITS[0]]
    r = field.client.post(
        path, data={"api_key": "hotline-key", "service_code": "dust", "lat": lat, "long": lon}
    )
    assert r.status_code == 201, r.text


def _open311_xml(field: Field) -> None:
    _open311(field, "/open311/v2/requests.xml")


def _logout(field: Field) -> None:
    r = field.client.post("/api/v1/auth/logout", headers=field.headers("insp"))
    assert r.status_code == 204, r.text


def _disable(field: Field) -> None:
    r = field.client.post("/api/v1/users/other/disable", headers=field.headers("admin"))
    assert r.status_code == 200, r.text


def _set_password(field: Field) -> None:
    r = field.client.post(
        "/api/v1/users/other/password",
        json={"password": "a-new-long-password"},
        headers=field.headers("admin"),
    )
    assert r.status_code == 200, r.text


def _own_password(field: Field) -> None:
    r = field.client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a-new-long-password"},
        headers=field.headers("insp"),
    )
    assert r.status_code == 200, r.text


def _import_roster(field: Field) -> None:
    roster = f"网格编码,岗位,姓名,手机号,起始日期\n{UNITS[0]},网格员,新人,13900000009,2025/1/1\n"
    files = {"file": ("名单.csv", roster.encode("gbk"))}
    digest = hashlib.sha256(roster.encode("gbk")).hexdigest()
    r = field.client.post(
        "/api/v1/imports",
        files=files,
        data={"preview_sha256": digest},
        headers=field.headers("admin"),
    )
    assert r.status_code == 200, r.text


WRITES: dict[tuple[str, str], tuple[str, str, Callable[[Field], object]]] = {
    ("post", "/api/v1/reports"): ("insp", "report.create", _report),
    ("post", "/api/v1/reports/batch"): ("insp", "report.create", _batch),
    ("post", "/api/v1/reports/{report_id}/review"): ("sup", "report.review", _review),
    ("post", "/api/v1/reports/{report_id}/photos"): ("insp", "photo.create", _photo),
    ("post", "/api/v1/patrols"): ("insp", "patrol.create", _patrol),
    ("post", "/api/v1/hotspots"): ("sup", "hotspot.create", _hotspot),
    ("post", "/api/v1/hotspots/{hotspot_id}/transitions"): (
        "boss",
        "hotspot.transition",
        _transition,
    ),
    ("post", "/api/v1/sources"): ("insp", "source.create", _source),
    ("patch", "/api/v1/sources/{source_id}"): ("insp", "source.update", _source_patch),
    ("delete", "/api/v1/sources/{source_id}"): ("sup", "source.retire", _source_delete),
    ("post", "/open311/v2/requests.json"): ("open311:1", "hotspot.create", _open311),
    ("post", "/open311/v2/requests.xml"): ("open311:1", "hotspot.create", _open311_xml),
    ("post", "/api/v1/auth/logout"): ("insp", "auth.logout", _logout),
    ("post", "/api/v1/users/{username}/disable"): ("admin", "user.disable", _disable),
    ("post", "/api/v1/users/{username}/password"): ("admin", "user.password", _set_password),
    ("post", "/api/v1/auth/password"): ("insp", "user.password", _own_password),
    ("post", "/api/v1/imports"): ("admin", "roster.import", _import_roster),
}
# Writes that change no domain data: signing in (recorded by the sign-in rules, issue 8).
# An import's preview writes and rolls back (tests/api/test_imports.py: nothing stays).
NOT_DATA_WRITES = {
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/imports/preview"),
    ("post", "/api/v1/exports/verify"),  # reads the log: checking a file changes nothing
}


def test_every_write_route_has_a_scenario(database_url: str) -> None:
    paths = create_app(database_url).openapi()["paths"]
    writes = {
        (m, p) for p, ops in paths.items() for m in ops if m in ("post", "put", "patch", "delete")
    }
    assert writes - NOT_DATA_WRITES == set(WRITES)


@pytest.mark.parametrize("route", list(WRITES), ids=lambda r: f"{r[0]} {r[1]}")
def test_each_write_route_appends_an_entry_for_its_actor(
    field: Field, route: tuple[str, str]
) -> None:
    actor, action, run = WRITES[route]
    run(field)
    found = entries(field, action=action)
    assert found and all(e["actor"] == actor for e in found), found
    assert verify(field)["ok"] is True


def test_entry_holds_before_and_after_of_a_hotspot_step(field: Field) -> None:
    _transition(field)
    (step,) = entries(field, action="hotspot.transition")
    assert step["before"]["status"] == "reported" and step["after"]["status"] == "accepted"
    assert step["target_type"] == "hotspot" and step["actor"] == "boss"
    history = entries(field, target=f"hotspot:{step['target_id']}")
    assert [e["action"] for e in history] == ["hotspot.transition", "hotspot.create"]


def test_resends_and_refused_items_write_nothing(field: Field) -> None:
    body = report_body()
    post(field, "/api/v1/reports", "insp", body)
    post(field, "/api/v1/reports", "insp", body, 200)  # identical re-send
    clash = {**report_body(), "id": body["id"]}  # a different body under the same id
    results = post(field, "/api/v1/reports/batch", "insp", [report_body(), clash], 200)
    assert [r["status"] for r in results["results"]] == [201, 409]
    assert len(entries(field, action="report.create")) == 2
    assert verify(field) | {"head": None, "checked_at": None} == {
        "ok": True,
        "entries": len(entries(field)),
        "head": None,
        "first_broken": None,
        "problem": None,
        "checked_from": 1,
        "checked": len(entries(field)),
        "checkpoint": None,
        "full": False,
        "unsigned_checkpoints": [],
        "checked_at": None,
    }


def test_concurrent_writers_keep_one_gap_free_chain(field: Field) -> None:
    headers = field.headers("insp")
    errors: list[str] = []

    def file_some() -> None:
        for _ in range(5):
            r = field.client.post("/api/v1/reports", json=report_body(), headers=headers)
            if r.status_code != 201:
                errors.append(r.text)

    threads = [threading.Thread(target=file_some) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seqs = sorted(e["seq"] for e in entries(field, limit=1000))
    assert seqs == list(range(1, len(seqs) + 1))
    assert verify(field)["ok"] is True and verify(field)["entries"] == len(seqs) >= 30


def test_cli_writes_are_recorded_for_the_cli_user(db: Session) -> None:
    from app.domain.people.accounts import create_or_update_user

    audit.act_as(db, audit.Actor("cli:tester"))
    create_or_update_user(db, username="zhang", role="inspector", password="long-enough-pw")
    db.commit()
    row = db.execute(text("SELECT actor, action, after FROM audit_log")).one()
    assert row.actor == "cli:tester" and row.action == "user.create"
    assert "password" not in str(row.after).replace("password_set", "")


def test_more_entries_than_one_statement_chains_are_appended_in_order_and_verify(
    db: Session,
) -> None:
    """A commit with more than LARGE_APPEND entries takes the linear append (chained here,
    not in the one statement); the second commit's entries follow them in the same chain."""
    from app.domain.accountability.verify import verify as verify_chain

    audit.act_as(db, audit.Actor("cli:tester"))
    for k in range(audit.LARGE_APPEND + 5):
        audit.record(db, "test.large", "thing", k, after={"k": k, "x": 0.1 * k})
    db.commit()
    large = audit.last_assigned(db)
    audit.record(db, "test.small", "thing", "after")
    db.commit()
    assert large == list(range(1, audit.LARGE_APPEND + 6))
    assert audit.last_assigned(db) == [audit.LARGE_APPEND + 6]
    rows = db.execute(text("SELECT seq, target_id FROM audit_log ORDER BY seq")).all()
    assert [r.target_id for r in rows] == [str(k) for k in range(audit.LARGE_APPEND + 5)] + [
        "after"
    ]
    verdict = verify_chain(db, full=True)
    assert verdict.ok and verdict.entries == audit.LARGE_APPEND + 6, verdict


# --- tampering ------------------------------------------------------------------------------


def _as_superuser(engine: Engine, sql: str) -> None:
    """What an intruder with database superuser rights would do: triggers off, then edit."""
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(sql))


def _three_entries(field: Field) -> None:
    for _ in range(3):
        _report(field)
    assert verify(field)["ok"] is True


@pytest.mark.parametrize(
    ("sql", "broken", "words"),
    [
        ("UPDATE audit_log SET after = after || '{\"counted\": false}' WHERE seq = 2", 2, "edited"),
        ("UPDATE audit_log SET actor = 'someone' WHERE seq = 1", 1, "edited"),
        ("UPDATE audit_log SET at = at - interval '1 day' WHERE seq = 3", 3, "edited"),
        ("DELETE FROM audit_log WHERE seq = 2", 2, "missing"),
        ("DELETE FROM audit_log WHERE seq = 3", 3, "removed"),
    ],
)
def test_a_superusers_edit_is_named_by_the_full_verify(
    field: Field, engine: Engine, sql: str, broken: int, words: str
) -> None:
    _three_entries(field)  # verified: a checkpoint at entry 3
    _as_superuser(engine, sql)
    verdict = verify(field, full=True)
    assert verdict["ok"] is False and verdict["first_broken"] == broken
    assert words in verdict["problem"] and verdict["checked_from"] == 1


def test_rewriting_an_entry_with_a_fresh_hash_breaks_the_next_link(
    field: Field, engine: Engine
) -> None:
    _three_entries(field)
    _as_superuser(engine, "UPDATE audit_log SET hash = repeat('a', 64) WHERE seq = 2")
    verdict = verify(field, full=True)
    assert verdict["ok"] is False and verdict["first_broken"] == 2


# --- checkpoints: a call recomputes what was appended since the last one -----------------------


def checkpoints(db: Session) -> list[int]:
    return list(db.scalars(text("SELECT seq FROM audit_checkpoints ORDER BY seq")))


def test_a_call_recomputes_only_the_entries_since_the_checkpoint(field: Field, db: Session) -> None:
    _three_entries(field)
    assert checkpoints(db) == [3]
    _report(field)
    _report(field)
    since = verify(field)
    assert since["ok"] is True and since["entries"] == 5
    assert (since["checkpoint"], since["checked_from"], since["checked"]) == (3, 3, 3)
    again = verify(field)  # nothing new: only the checkpoint's own entry is checked
    assert (again["ok"], again["checkpoint"], again["checked"]) == (True, 5, 1)
    full = verify(field, full=True)
    assert (full["ok"], full["full"], full["checked_from"], full["checked"]) == (True, True, 1, 5)
    assert full["checkpoint"] is None
    assert checkpoints(db) == [3, 5]


@pytest.mark.parametrize(
    ("sql", "broken", "words"),
    [
        ("UPDATE audit_log SET after = after || '{\"counted\": false}' WHERE seq = 5", 5, "edited"),
        ("UPDATE audit_log SET actor = 'someone' WHERE seq = 4", 4, "edited"),
        ("UPDATE audit_log SET hash = repeat('a', 64) WHERE seq = 5", 5, "edited"),
        ("DELETE FROM audit_log WHERE seq = 5", 5, "missing"),
        ("DELETE FROM audit_log WHERE seq = 6", 6, "removed"),
        # the checkpoint's own entry
        ("UPDATE audit_log SET at = at - interval '1 day' WHERE seq = 3", 3, "edited"),
        ("UPDATE audit_log SET hash = repeat('a', 64) WHERE seq = 3", 3, "checkpoint"),
        ("DELETE FROM audit_log WHERE seq = 3", 3, "missing"),
    ],
)
def test_an_edit_at_or_after_the_checkpoint_is_named_by_the_normal_call(
    field: Field, engine: Engine, db: Session, sql: str, broken: int, words: str
) -> None:
    _three_entries(field)  # a checkpoint at entry 3
    for _ in range(3):
        _report(field)
    _as_superuser(engine, sql)
    verdict = verify(field)
    assert verdict["ok"] is False and verdict["first_broken"] == broken, verdict
    assert words in verdict["problem"] and verdict["checkpoint"] == 3
    assert checkpoints(db) == [3]  # a broken chain gets no checkpoint


def test_an_edit_before_the_checkpoint_is_named_by_the_full_verify(
    field: Field, engine: Engine, db: Session
) -> None:
    _three_entries(field)
    _report(field)
    assert verify(field)["checkpoint"] == 3
    _as_superuser(engine, "UPDATE audit_log SET actor = 'someone' WHERE seq = 2")
    assert verify(field)["checked_from"] == 4  # the normal call starts at the checkpoint
    full = verify(field, full=True)
    assert full["ok"] is False and full["first_broken"] == 2 and "edited" in full["problem"]
    assert checkpoints(db) == [3, 4]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_checkpoints SET hash = repeat('b', 64) WHERE seq = 3",
        "UPDATE audit_checkpoints SET seq = 4 WHERE seq = 3",
        "INSERT INTO audit_checkpoints SELECT 4, hash, now(), 1, 'x', 'forged' "
        "FROM audit_log WHERE seq = 4",
    ],
)
def test_a_checkpoint_the_server_did_not_sign_is_passed_over_and_named(
    field: Field, engine: Engine, sql: str
) -> None:
    _three_entries(field)
    _report(field)
    _as_superuser(engine, sql)
    verdict = verify(field)
    # Named, and not started from: only from a checkpoint this server signed, or entry 1.
    assert verdict["ok"] is True and verdict["unsigned_checkpoints"], verdict
    assert verdict["checkpoint"] not in verdict["unsigned_checkpoints"]
    assert verdict["checked_from"] == (verdict["checkpoint"] or 1)


def test_a_planted_checkpoint_cannot_hide_an_edit_behind_it(field: Field, engine: Engine) -> None:
    _three_entries(field)  # a genuine checkpoint at entry 3
    _report(field)
    _report(field)
    # An intruder edits entry 4, then plants a checkpoint at the head so that the normal
    # call would start there, past the edit.
    _as_superuser(engine, "UPDATE audit_log SET actor = 'someone' WHERE seq = 4")
    _as_superuser(
        engine,
        "INSERT INTO audit_checkpoints SELECT seq, hash, now(), 1, 'x', repeat('c', 64) "
        "FROM audit_log WHERE seq = 5",
    )
    verdict = verify(field)
    assert verdict["ok"] is False and verdict["first_broken"] == 4, verdict
    assert verdict["unsigned_checkpoints"] == [5] and verdict["checkpoint"] == 3


def test_the_discipline_office_may_recompute_the_whole_chain(field: Field) -> None:
    _three_entries(field)
    r = field.client.get(
        "/api/v1/audit/verify", params={"full": True}, headers=field.headers("disc")
    )
    assert r.status_code == 200 and r.json()["full"] is True and r.json()["checked_from"] == 1


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        ("UPDATE audit_checkpoints SET hash = repeat('b', 64)", "append-only"),
        ("DELETE FROM audit_checkpoints", "append-only"),
        ("TRUNCATE audit_checkpoints", "append-only"),
        (
            "INSERT INTO audit_checkpoints VALUES (2, repeat('b', 64), now(), 1, 'x', 'y')",
            "no audit entry",
        ),
        (
            "INSERT INTO audit_checkpoints SELECT 7, hash, now(), 1, 'x', 'y' "
            "FROM audit_log WHERE seq = 3",
            "no audit entry",
        ),
    ],
)
def test_the_applications_role_cannot_change_or_plant_a_checkpoint(
    field: Field, engine: Engine, db: Session, sql: str, refusal: str
) -> None:
    _three_entries(field)
    with make_sessionmaker(engine)() as session, pytest.raises(DBAPIError, match=refusal):
        session.execute(text(sql))
    assert checkpoints(db) == [3]


@pytest.mark.parametrize("user", ["sup", "cmd"])
def test_only_the_admin_and_discipline_ask_for_the_full_verify(field: Field, user: str) -> None:
    _three_entries(field)
    headers = field.headers(user)
    full = field.client.get("/api/v1/audit/verify", params={"full": True}, headers=headers)
    assert full.status_code == 403 and full.json()["detail"].startswith("full=true:")
    normal = field.client.get("/api/v1/audit/verify", headers=headers)
    assert normal.status_code == 200 and normal.json()["ok"] is True


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
def test_the_applications_role_cannot_change_the_log(
    field: Field, engine: Engine, sql: str
) -> None:
    _three_entries(field)
    with make_sessionmaker(engine)() as session, pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(sql))
    assert verify(field)["entries"] == 3


def test_jsonb_round_trip_keeps_hashes_stable(field: Field, db: Session) -> None:
    """Numbers jsonb rewrites (huge, tiny, negative zero) must hash the same when read back."""
    audit.act_as(db, audit.Actor("cli:tester"))
    odd = {"big": 1e16, "huge": 1.5e300, "tiny": 1e-7, "zero": -0.0, "text": "网格 \u2028"}
    audit.record(db, "test.numbers", "test", "1", after=odd)
    db.commit()
    assert verify(field)["ok"] is True


def test_a_rolled_back_write_leaves_no_entry(db: Session, field: Field) -> None:
    audit.record(db, "test.rolled_back", "test", "1")
    db.rollback()
    with db.begin_nested():
        audit.record(db, "test.kept", "test", "2")
    try:
        with db.begin_nested():
            audit.record(db, "test.savepoint", "test", "3")
            raise RuntimeError("the item fails")
    except RuntimeError:
        pass
    db.commit()
    assert [e["action"] for e in entries(field)] == ["test.kept"]


# --- who may read -----------------------------------------------------------------------------


def test_readers_see_only_their_scope(field: Field) -> None:
    _report(field)
    _hotspot(field)
    for user in ("insp", "boss", "other"):
        r = field.client.get("/api/v1/audit", headers=field.headers(user))
        assert r.status_code == 403
        r = field.client.get("/api/v1/audit/verify", headers=field.headers(user))
        assert r.status_code == 403
    everything = entries(field, "disc")
    scoped = entries(field, "cmd")  # command office scoped to district 410702: both cells
    assert {e["action"] for e in scoped} == {"report.create", "hotspot.create"}
    assert len(everything) == len(scoped)


def test_scoped_reader_sees_no_other_districts_entries(field: Field) -> None:
    make_cells(field.db, NewCell("410703", "卫滨区", 2, None, square(114.2, 35.3, 0.02)))
    make_user(field.db, "disc_wb", "discipline", scope="410703")
    _report(field)
    assert entries(field, "disc_wb") == []
    assert len(entries(field, "disc")) >= 1


def test_listing_pages_by_seq_and_filters(field: Field) -> None:
    for _ in range(5):
        _report(field)
    first = field.client.get(
        "/api/v1/audit", params={"limit": 2}, headers=field.headers("admin")
    ).json()
    assert [e["seq"] for e in first["entries"]] == [5, 4] and first["next_before"] == 4
    rest = entries(field, before=4, limit=10)
    assert [e["seq"] for e in rest] == [3, 2, 1]
    assert entries(field, actor="nobody") == []
    now = datetime.now(UTC)
    assert len(entries(field, **{"from": (now - timedelta(minutes=5)).isoformat()})) == 5
    assert entries(field, to=(now - timedelta(minutes=5)).isoformat()) == []


def test_verify_and_export_headers_hold_while_others_write(field: Field) -> None:
    """Entries committed during a verify are neither missed nor taken for removals, and an
    export names its own entry."""
    stop = threading.Event()
    problems: list[str] = []
    # Tokens first: making one reads the shared test session, which threads must not share.
    insp = field.headers("insp")
    field.headers("admin"), field.headers("disc")

    def write() -> None:
        while not stop.is_set():
            r = field.client.post("/api/v1/reports", json=report_body(), headers=insp)
            if r.status_code != 201:
                problems.append(r.text)

    writers = [threading.Thread(target=write) for _ in range(3)]
    for t in writers:
        t.start()
    try:
        for _ in range(15):
            verdict = verify(field)
            if not verdict["ok"]:
                problems.append(str(verdict))
            r = field.client.get(
                "/api/v1/exports/false-reports",
                params={"from": "2026-01-01", "to": "2026-02-01"},
                headers=field.headers("disc"),
            )
            seq = int(r.headers["x-audit-seq"])
            (entry,) = [e for e in entries(field, limit=1000) if e["seq"] == seq]
            if entry["action"] != "export.false-reports":
                problems.append(f"X-Audit-Seq {seq} is {entry['action']}")
    finally:
        stop.set()
        for t in writers:
            t.join()
    assert problems == []
