"""Faults, with the real parts: PostgreSQL stopped and restarted under a stream of reports,
the server killed with SIGKILL in the middle of a batch, a full photo store. Nothing is lost,
nothing is stored twice, no answer is a 500."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app import localdb
from app.config import PROJECT_ROOT, get_settings
from app.db import make_engine, make_sessionmaker
from app.domain import audit
from app.domain.accountability import verify as audit_verify
from app.main import create_app
from app.migrate import upgrade
from app.models import CellVisit, Report
from app.serving import serve_in_thread
from tests import clock
from tests.factories import (
    SINCE,
    UNITS,
    bearer,
    give_duty,
    jpeg,
    make_user,
    report_body,
    two_by_two,
)


def _staff(session: Session) -> dict[str, str]:
    two_by_two(session)
    insp = make_user(session, "insp", "inspector")
    give_duty(session, insp, UNITS[0], "member", valid_from=SINCE)
    return bearer(session, "insp")


@pytest.fixture
def own_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A PostGIS cluster of this test's own, which it may stop and start at will."""
    monkeypatch.setattr(get_settings(), "data_dir", tmp_path / "data")
    cluster = localdb.start()
    url = cluster.url()
    upgrade(url)
    try:
        yield url
    finally:
        localdb.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


def test_database_down_and_back_answers_503_then_stores_every_report_once(
    own_cluster: str,
) -> None:
    engine = make_engine(own_cluster)
    with make_sessionmaker(engine)() as session:
        headers = _staff(session)
    bodies = [report_body(UNITS[0]) for _ in range(40)]
    answers: dict[str, list[int]] = {b["id"]: [] for b in bodies}  # type: ignore[misc]
    health_while_down: list[int] = []
    with serve_in_thread(create_app(own_cluster)) as url, httpx.Client(base_url=url) as client:
        sent, down = threading.Event(), threading.Event()

        def phone() -> None:
            for i, body in enumerate(bodies):
                while True:  # the phone's outbox: the same report until the server has it
                    try:
                        r = client.post("/api/v1/reports", json=body, headers=headers, timeout=10)
                        answers[str(body["id"])].append(r.status_code)
                        if r.status_code in (200, 201):
                            break
                    except httpx.TransportError:
                        answers[str(body["id"])].append(0)
                    time.sleep(0.1)
                if i == 9:
                    sent.set()
                    down.wait(60)  # the rest is sent into the outage

        t = threading.Thread(target=phone)
        t.start()
        assert sent.wait(60)
        localdb.stop()
        down.set()
        time.sleep(1.5)
        health_while_down.append(client.get("/healthz").status_code)
        localdb.start()
        t.join(120)
        assert not t.is_alive(), [v[-5:] for v in answers.values() if v and v != [201]]
    codes = [c for seq in answers.values() for c in seq]
    assert 500 not in codes and health_while_down == [503]
    assert 503 in codes, "the outage was not seen: stop the database earlier"
    with make_sessionmaker(engine)() as session:
        stored = session.scalars(select(Report.id).where(Report.id.in_(list(answers)))).all()
        visits = session.scalar(select(func.count()).select_from(CellVisit)) or 0
        assert audit_verify.verify(session).ok
    assert sorted(map(str, stored)) == sorted(answers) and visits == len(bodies)
    engine.dispose()


def _wait_for_a_writer_waiting_on_a_lock(
    database_url: str, holder_pid: int, seconds: float = 30
) -> bool:
    """True once a session other than `holder_pid` has written and waits for a lock."""
    deadline = time.monotonic() + seconds
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_xid IS NOT NULL AND wait_event_type = 'Lock' "
                "AND pid NOT IN (pg_backend_pid(), %s)",
                (holder_pid,),
            ).fetchone()
            if busy and busy[0]:
                return True
            time.sleep(0.02)
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "GRIDWATCH_DATABASE_URL": database_url}
    if clock.offset():  # the server lives on the suite's clock
        env[clock.ENV] = datetime.now(UTC).isoformat()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.serve_on_test_clock", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not start")


def test_sigkill_mid_batch_leaves_no_partial_item_and_a_resend_stores_it_once(
    database_url: str, db: Session
) -> None:
    headers = _staff(db)
    db.rollback()
    batch = [report_body(UNITS[0]) for _ in range(500)]
    ids = [str(b["id"]) for b in batch]
    # Hold the audit chain's head: the batch writes every row, then waits for the head at its
    # commit — killed there, mid-transaction, however fast the batch is.
    with psycopg.connect(database_url) as holder:
        holder.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, %s) ON CONFLICT DO NOTHING",
            (audit.GENESIS,),
        )
        holder.commit()
        holder.execute("SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE")
        proc, url = _server(database_url)
        done = threading.Event()

        def send() -> None:
            try:
                httpx.post(url + "/api/v1/reports/batch", json=batch, headers=headers, timeout=60)
            except httpx.TransportError:
                pass
            done.set()

        threading.Thread(target=send, daemon=True).start()
        waiting = _wait_for_a_writer_waiting_on_a_lock(database_url, holder.info.backend_pid)
        killed_mid_batch = waiting and not done.is_set()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        holder.rollback()
    assert killed_mid_batch, "the batch never waited for the audit head"
    # Both counts in one statement, one snapshot: the batch's COMMIT went out pipelined with
    # its audit append, so its backend may still commit once the head is free, after the
    # client is gone — between two separate counts.
    stored, visits = db.execute(
        select(
            select(func.count()).select_from(Report).where(Report.id.in_(ids)).scalar_subquery(),
            select(func.count()).select_from(CellVisit).scalar_subquery(),
        )
    ).one()
    db.rollback()
    assert stored == visits and stored in (0, len(batch))  # all of it or none, never a part

    proc, url = _server(database_url)
    try:
        r = httpx.post(url + "/api/v1/reports/batch", json=batch, headers=headers, timeout=120)
        again = httpx.post(url + "/api/v1/reports/batch", json=batch, headers=headers, timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert r.status_code == 200 and {i["status"] for i in r.json()["results"]} <= {200, 201}
    assert {i["status"] for i in again.json()["results"]} == {200}
    assert db.scalar(select(func.count()).select_from(Report).where(Report.id.in_(ids))) == len(ids)
    assert db.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'report.create'")) == len(
        ids
    )
    db.rollback()
    assert audit_verify.verify(db).ok


@pytest.fixture
def full_store(tmp_path: Path) -> Iterator[Path]:
    """A real, tiny file system, filled to the brim (tmpfs needs root, as CI runs)."""
    if os.geteuid() != 0:
        pytest.skip(
            "mounting a tmpfs needs root; CI and `make test` on the project machine run as root"
        )
    mount = tmp_path / "store"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    try:
        with (mount / "filler").open("wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_photo_store_answers_507_and_keeps_the_report(
    client: object, db: Session, full_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "photo_dir", full_store)
    headers = _staff(db)
    body = report_body(UNITS[0])
    c: httpx.Client = client  # type: ignore[assignment]
    assert c.post("/api/v1/reports", json=body, headers=headers).status_code == 201
    r = c.post(
        f"/api/v1/reports/{body['id']}/photos",
        files={"file": ("p.jpg", jpeg((9, 9, 9)) * 50, "image/jpeg")},
        headers=headers,
    )
    assert r.status_code == 507 and "full" in r.json()["detail"]
    kept = c.get(f"/api/v1/reports/{body['id']}", headers=headers)
    assert kept.status_code == 200 and kept.json()["photos"] == []
    assert not [p for p in full_store.rglob("*") if p.name.startswith(".upload-")]
