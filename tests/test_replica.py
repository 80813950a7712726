"""Read replicas (GRIDWATCH_READ_DATABASE_URL) against a real streaming standby of the test
server, made with `pg_basebackup -R` (app/localdb.py: start_standby). One standby per run,
shared by the pytest-xdist workers, one test at a time (tests/standby.py). The standby is
copied from GRIDWATCH_TEST_DIRECT_URL when set (the server behind a pooler:
`make test-pgbouncer`), else from the test server. With GRIDWATCH_TEST_DATABASE_URL on a
server that refuses replication these tests are skipped; on the embedded cluster
(`make test`) they always run."""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import localdb
from app.config import get_settings
from app.db import LAG_CHECK_SECONDS, READ_APPLICATION_NAME
from app.main import create_app
from tests.factories import UNITS, Field, report_body, staffed_field
from tests.standby import shared as shared_standby
from tests.testrun import locked


@pytest.fixture(scope="session")
def standby(database_url: str) -> localdb.Cluster:
    """The run's standby (tests/standby.py), copied once for every test process."""
    source = os.environ.get("GRIDWATCH_TEST_DIRECT_URL") or database_url
    server = make_url(source).set(database="postgres").render_as_string(hide_password=False)
    try:
        return shared_standby(server)
    except (localdb.LocalDbError, psycopg.Error) as exc:
        if os.environ.get("GRIDWATCH_TEST_DATABASE_URL"):
            pytest.skip(f"the configured test server refuses replication: {exc}")
        raise


def standby_url(standby: localdb.Cluster, database_url: str) -> str:
    return standby.url(make_url(database_url).database or "")


@pytest.fixture
def field(
    database_url: str, standby: localdb.Cluster, db: Session, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Field]:
    """A staffed grid served by an app that reads from the standby (lag allowed: an hour)."""
    monkeypatch.setattr(get_settings(), "read_database_url", standby_url(standby, database_url))
    monkeypatch.setattr(get_settings(), "read_max_lag_seconds", 3600.0)
    # The standby is the run's: one test at a time pauses its replay or stops it.
    with locked("standby-use"), TestClient(create_app(database_url)) as client:
        yield staffed_field(client, db)
        with psycopg.connect(standby_url(standby, database_url), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")


def caught_up(database_url: str, standby: localdb.Cluster) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        (lsn,) = conn.execute("SELECT pg_current_wal_lsn()").fetchone()  # type: ignore[misc]
    with psycopg.connect(standby_url(standby, database_url), autocommit=True) as conn:
        for _ in range(300):
            done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))
            if done.fetchone() == (True,):
                return
            time.sleep(0.05)
    raise AssertionError(f"the standby did not replay up to {lsn} in 15 s")


def pause_replay(standby: localdb.Cluster, database_url: str) -> None:
    with psycopg.connect(standby_url(standby, database_url), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")


def patrol(field: Field, cell: str = UNITS[0]) -> dict[str, Any]:
    r = field.client.post("/api/v1/reports", json=report_body(cell), headers=field.headers("insp"))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def gap_cells(field: Field) -> set[str]:
    r = field.client.get("/api/v1/gaps", headers=field.headers("sup"))
    assert r.status_code == 200, r.text
    return {c["code"] for c in r.json()["cells"]}


def healthz(field: Field) -> dict[str, Any]:
    r = field.client.get("/healthz")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_gaps_are_read_on_the_standby(
    field: Field, database_url: str, standby: localdb.Cluster
) -> None:
    field.headers("sup")
    caught_up(database_url, standby)
    # The primary locks `cells`; the standby replays the lock, so a gap query running there
    # waits for it — where its pg_stat_activity shows it, under the read engine's name.
    answer: dict[str, int] = {}
    with psycopg.connect(database_url) as locker:
        locker.execute("LOCK TABLE cells IN ACCESS EXCLUSIVE MODE")
        locker.execute("SELECT pg_switch_wal()")  # pushed to the standby now
        caught_up(database_url, standby)
        asking = threading.Thread(
            target=lambda: answer.update(
                status=field.client.get("/api/v1/gaps", headers=field.headers("sup")).status_code
            )
        )
        asking.start()
        seen = None
        with psycopg.connect(standby_url(standby, database_url), autocommit=True) as watcher:
            for _ in range(200):
                seen = watcher.execute(
                    "SELECT query FROM pg_stat_activity WHERE application_name = %s "
                    "AND datname = current_database() AND wait_event_type = 'Lock'",
                    (READ_APPLICATION_NAME,),
                ).fetchone()
                if seen is not None:
                    break
                time.sleep(0.05)
        locker.rollback()
    asking.join(30)
    assert seen is not None, "no gap query waited on the standby"
    assert "cells" in seen[0]
    assert answer == {"status": 200}
    replicas = healthz(field)["replicas"]
    assert [r["state"] for r in replicas] == ["ok"]
    assert replicas[0]["replica"] == 1 and 0 <= replicas[0]["lag_seconds"] < 3600


def waiting_read(database_url: str, standby: localdb.Cluster) -> int:
    """The pid of the app's query waiting on a lock on the standby (waits up to 10 s)."""
    with psycopg.connect(standby_url(standby, database_url), autocommit=True) as watcher:
        for _ in range(200):
            seen = watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                "AND datname = current_database() AND wait_event_type = 'Lock'",
                (READ_APPLICATION_NAME,),
            ).fetchone()
            if seen is not None:
                return int(seen[0])
            time.sleep(0.05)
    raise AssertionError("no read waited on the standby")


@pytest.mark.parametrize(
    ("stop", "fmt"), [("pg_terminate_backend", "json"), ("pg_cancel_backend", "csv")]
)
def test_a_replica_failing_during_a_read_makes_it_run_again_on_the_primary(
    field: Field, database_url: str, standby: localdb.Cluster, stop: str, fmt: str
) -> None:
    field.headers("sup")
    caught_up(database_url, standby)
    # The standby replays the primary's lock on `cells` and then stops replaying: it holds
    # the lock after the primary has let it go, and never sees the patrol that follows.
    with psycopg.connect(database_url) as locker:
        locker.execute("LOCK TABLE cells IN ACCESS EXCLUSIVE MODE")
        locker.execute("SELECT pg_switch_wal()")
        caught_up(database_url, standby)
        pause_replay(standby, database_url)
    patrol(field)
    answer: dict[str, Any] = {}
    asking = threading.Thread(
        target=lambda: answer.update(
            r=field.client.get("/api/v1/gaps", params={"format": fmt}, headers=field.headers("sup"))
        )
    )
    asking.start()
    pid = waiting_read(database_url, standby)
    # The standby ends the query (shut down, or cancelled as by a recovery conflict).
    with psycopg.connect(standby_url(standby, database_url), autocommit=True) as conn:
        assert conn.execute(f"SELECT {stop}(%s)", (pid,)).fetchone() == (True,)
    asking.join(30)
    r = answer["r"]
    assert r.status_code == 200, r.text
    # Read again on the primary: it knows the patrol the standby has not replayed.
    if fmt == "csv":
        assert UNITS[0] not in r.text and UNITS[1] in r.text
    else:
        cells = {c["code"] for c in r.json()["cells"]}
        assert UNITS[0] not in cells and UNITS[1] in cells
    # The failed replica is left alone for its back-off: the next read goes to the primary.
    replicas = field.client.app.state.read_replicas  # type: ignore[attr-defined]
    assert [r.state(replicas.max_lag) for r in replicas.replicas] == ["down"]
    assert UNITS[0] not in gap_cells(field)


def test_an_author_reads_their_report_at_once_while_maps_lag(
    field: Field, database_url: str, standby: localdb.Cluster
) -> None:
    caught_up(database_url, standby)
    before = gap_cells(field)
    assert UNITS[0] in before  # never patrolled
    pause_replay(standby, database_url)  # the standby falls behind from here
    report = patrol(field)
    # The author's own report: reports are read on the primary, so it is there at once.
    mine = field.client.get(f"/api/v1/reports/{report['id']}", headers=field.headers("insp"))
    assert mine.status_code == 200, mine.text
    assert mine.json()["id"] == report["id"] and mine.json()["counted"] is True
    listed = field.client.get("/api/v1/reports", headers=field.headers("insp"))
    assert report["id"] in {r["id"] for r in listed.json()["reports"]}
    # The gap map and the heat layer are read on the standby, within the allowed lag: they do
    # not know yet.
    assert gap_cells(field) == before
    heat = field.client.get("/api/v1/reports/heat", headers=field.headers("insp"))
    assert heat.status_code == 200 and heat.json()["points"] == []
    time.sleep(LAG_CHECK_SECONDS + 0.1)
    replica = healthz(field)["replicas"][0]
    assert replica["state"] == "ok" and replica["lag_seconds"] > 0


def test_a_replica_past_the_allowed_lag_is_passed_over(
    field: Field, database_url: str, standby: localdb.Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    caught_up(database_url, standby)
    pause_replay(standby, database_url)
    patrol(field)
    replicas = field.client.app.state.read_replicas  # type: ignore[attr-defined]
    monkeypatch.setattr(replicas, "max_lag", 0.5)
    time.sleep(LAG_CHECK_SECONDS + 0.6)
    assert UNITS[0] not in gap_cells(field)  # the primary answered: the patrol counts
    replica = healthz(field)["replicas"][0]
    assert replica["state"] == "lagging" and replica["lag_seconds"] > 0.5


def test_a_stopped_standby_makes_reads_fall_back_without_error(
    field: Field, database_url: str, standby: localdb.Cluster
) -> None:
    caught_up(database_url, standby)
    assert UNITS[0] in gap_cells(field)  # a pooled connection to the standby is now open
    localdb.stop_standby(standby)
    try:
        patrol(field)
        assert UNITS[0] not in gap_cells(field)  # read on the primary, with the new patrol
        lapses = field.client.get(
            "/api/v1/lapses",
            params={"from": "2025-01-01T00:00:00Z", "to": "2025-01-02T00:00:00Z"},
            headers=field.headers("sup"),
        )
        assert lapses.status_code == 200, lapses.text
        health = healthz(field)
        assert health["status"] == "ok"
        assert [r["state"] for r in health["replicas"]] == ["down"]
    finally:
        localdb.resume_standby(standby)
    caught_up(database_url, standby)
    time.sleep(5.1)  # DOWN_RETRY_SECONDS: the replica is tried again
    assert [r["state"] for r in healthz(field)["replicas"]] == ["ok"]


def test_files_are_read_on_the_standby_and_audited_on_the_primary(
    field: Field, database_url: str, standby: localdb.Cluster
) -> None:
    caught_up(database_url, standby)
    pause_replay(standby, database_url)  # from here the standby cannot hold the new entries
    period = {"from": "2025-01-01T00:00:00Z", "to": "2025-01-02T00:00:00Z"}
    export = field.client.get(
        "/api/v1/exports/accountability",
        params={**period, "format": "csv"},
        headers=field.headers("disc"),
    )
    assert export.status_code == 200, export.text
    seq = int(export.headers["x-audit-seq"])
    bulletin = field.client.get(
        "/api/v1/bulletin",
        params={"month": "2025-01", "format": "xlsx"},
        headers=field.headers("sup"),
    )
    assert bulletin.status_code == 200, bulletin.text
    gap_list = field.client.get(
        "/api/v1/gaps", params={"format": "csv"}, headers=field.headers("sup")
    )
    assert gap_list.status_code == 200, gap_list.text
    # The entries are on the primary (the standby, paused, has not even seen them).
    with psycopg.connect(database_url) as conn:
        actions = [
            a
            for (a,) in conn.execute(
                "SELECT action FROM audit_log WHERE seq >= %s ORDER BY seq", (seq,)
            )
        ]
    assert actions[:2] == ["export.accountability", "export.bulletin"]
    with psycopg.connect(standby_url(standby, database_url)) as conn:
        assert conn.execute(
            "SELECT count(*) FROM audit_log WHERE seq >= %s", (seq,)
        ).fetchone() == (0,)


def test_a_cell_dossier_is_read_on_the_standby_and_audited_on_the_primary(
    field: Field, database_url: str, standby: localdb.Cluster
) -> None:
    caught_up(database_url, standby)
    pause_replay(standby, database_url)  # from here the standby does not see the patrol
    patrol(field)
    period = {"from": (datetime.now(UTC) - timedelta(days=1)).isoformat()}
    r = field.client.get(
        f"/api/v1/exports/cells/{UNITS[0]}.zip",
        params={**period, "to": datetime.now(UTC).isoformat()},
        headers=field.headers("cmd"),
    )
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as dossier:
        assert json.loads(dossier.read("reports.json")) == []  # as the standby had it
    seq = int(r.headers["x-audit-seq"])
    with psycopg.connect(database_url) as conn:
        entry = conn.execute("SELECT action FROM audit_log WHERE seq = %s", (seq,)).fetchone()
    assert entry == ("export.dossier",)


def test_healthz_asks_a_silent_replica_once_per_back_off_not_on_every_call(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica that does not answer costs /healthz (public) one connection attempt per
    DOWN_RETRY_SECONDS, not one (of up to connect_timeout) per call."""
    attempts = 0

    def hang_up(server: socket.socket) -> None:  # a "replica" that takes connections and drops them
        nonlocal attempts
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed: the test is over
                return
            attempts += 1
            conn.close()

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        threading.Thread(target=hang_up, args=(server,), daemon=True).start()
        silent = f"postgresql://postgres@127.0.0.1:{server.getsockname()[1]}/gridwatch"
        monkeypatch.setattr(get_settings(), "read_database_url", silent)
        with TestClient(create_app(database_url)) as client:
            states = [client.get("/healthz").json()["replicas"][0]["state"]]
            first = attempts
            states += [client.get("/healthz").json()["replicas"][0]["state"] for _ in range(4)]
    assert states == ["down"] * 5
    assert first >= 1 and attempts == first
