"""Several server processes behave as one: sign-in limits and back-off, and the data, live in
PostgreSQL — two separate `serve` processes on one database, and `serve --workers 2`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from app.config import PROJECT_ROOT
from tests import clock
from tests.factories import (
    PASSWORD,
    SINCE,
    UNITS,
    bearer,
    give_duty,
    make_user,
    report_body,
    two_by_two,
)

TOKEN = "scrape-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(proc: subprocess.Popen[bytes], url: str) -> None:
    # Up to three minutes: a loaded two-core CI machine starts two workers slowly.
    for _ in range(1800):
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and its workers
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@contextmanager
def _process(args: list[str], database_url: str, **env: str) -> Iterator[str]:
    """A server in a process (and session) of its own, on the suite's clock; yields its URL."""
    port = _free_port()
    full_env = {**os.environ, "GRIDWATCH_DATABASE_URL": database_url, **env}
    if clock.offset():
        full_env[clock.ENV] = datetime.now(UTC).isoformat()
    proc = subprocess.Popen(
        [*args, str(port)],
        cwd=PROJECT_ROOT,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, url)
        yield url
    finally:
        _stop(proc)


def _server(database_url: str, **env: str) -> AbstractContextManager[str]:
    return _process([sys.executable, "-m", "tests.serve_on_test_clock"], database_url, **env)


def test_two_server_processes_throttle_sign_ins_as_one_and_share_reports(
    database_url: str, db: Session
) -> None:
    two_by_two(db)
    insp = make_user(db, "insp", "inspector")
    give_duty(db, insp, UNITS[0], "member", valid_from=SINCE)
    headers = bearer(db, "insp")
    db.rollback()
    # A back-off far longer than the test, so the clock's ticking cannot let a guess through.
    slow = {"GRIDWATCH_LOGIN_BACKOFF_SECONDS": "600"}
    with _server(database_url, **slow) as a, _server(database_url, **slow) as b:
        codes, waits = [], []
        for i in range(30):  # alternately through each process, from one address
            r = httpx.post(
                (a, b)[i % 2] + "/api/v1/auth/token",
                data={"username": "insp", "password": "guess"},
                timeout=30,
            )
            codes.append(r.status_code)
            if r.status_code == 429:
                waits.append(int(r.headers["retry-after"]))
        # One process would give: GRIDWATCH_LOGIN_MAX_FAILURES (5) weighed, then the wait;
        # two unshared processes would have weighed 5 each.
        assert codes == [401] * 5 + [429] * 25
        assert all(1 <= w <= 600 for w in waits) and waits[0] >= 590
        # The right password through either process waits too: the lockout is shared.
        for url in (a, b):
            r = httpx.post(
                url + "/api/v1/auth/token", data={"username": "insp", "password": PASSWORD}
            )
            assert r.status_code == 429

        body = report_body(UNITS[0])
        created = httpx.post(a + "/api/v1/reports", json=body, headers=headers, timeout=30)
        assert created.status_code == 201, created.text
        seen = httpx.get(f"{b}/api/v1/reports/{body['id']}", headers=headers, timeout=30)
        assert seen.status_code == 200 and seen.json()["id"] == body["id"]
        assert seen.json()["cell_code"] == created.json()["cell_code"] == UNITS[0]


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _healthz_count(url: str) -> float:
    r = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    return sum(
        sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
        if sample.name == "gridwatch_http_request_duration_seconds_count"
        and sample.labels["route"] == "/healthz"
    )


def test_serve_with_two_workers_answers_and_counts_metrics_over_both(
    database_url: str, tmp_path: Path
) -> None:
    gridwatch = str(Path(sys.executable).with_name("gridwatch"))
    port = _free_port()
    env = {
        **os.environ,
        "GRIDWATCH_DATABASE_URL": database_url,
        "GRIDWATCH_METRICS_TOKEN": TOKEN,
        "GRIDWATCH_LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [gridwatch, "serve", "--workers", "2", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(proc, url)
            assert len(_children(proc.pid)) >= 2  # the supervisor's two worker processes
            before = _healthz_count(url)
            for _ in range(20):  # new connections: the two workers share them out
                r = httpx.get(url + "/healthz", headers={"X-Request-ID": "not-believed"})
                assert r.json() == {"status": "ok"}
                assert len(r.headers["x-request-id"]) == 32
            # Whichever worker answers the scrape counts every worker's requests.
            assert _healthz_count(url) - before == 20
            assert _healthz_count(url) - before == 20
        finally:
            _stop(proc)
    lines = [orjson.loads(line) for line in log.read_bytes().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "gridwatch.access"]
    assert sum(1 for line in access if line["route"] == "/healthz") >= 20
    assert {"time", "level", "message", "request_id", "method", "status", "duration_ms"} <= set(
        access[-1]
    )
    assert all(len(line["request_id"]) == 32 for line in access)
