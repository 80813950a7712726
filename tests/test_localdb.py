"""The embedded cluster's lifecycle, in a data folder of its own (not the one tests use)."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app import localdb
from app.config import get_settings
from tests.cli.helpers import run_cli


@pytest.fixture
def own_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[localdb.Cluster]:
    monkeypatch.setenv("GRIDWATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GRIDWATCH_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    cluster = localdb.cluster()
    yield cluster
    try:
        localdb.stop()
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)
        monkeypatch.undo()
        get_settings.cache_clear()


def test_db_start_status_url_stop(own_cluster: localdb.Cluster) -> None:
    started = run_cli("db", "start")
    assert started.exit_code == 0, started.output
    assert "embedded PostGIS running" in started.output

    status = run_cli("db", "status")
    assert status.exit_code == 0 and "running" in status.output
    assert str(own_cluster.root) in status.output

    url = run_cli("db", "url").output.strip()
    assert url == own_cluster.url()
    with psycopg.connect(url) as conn:
        assert conn.execute("SHOW jit").fetchone() == ("off",)
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        assert conn.execute("SELECT PostGIS_Version()").fetchone()

    again = run_cli("db", "start")  # idempotent, same port
    assert again.exit_code == 0 and url in again.output

    stopped = run_cli("db", "stop")
    assert stopped.exit_code == 0 and "stopped" in stopped.output
    assert run_cli("db", "status").exit_code == 3


def test_cluster_runs_as_a_non_root_user(own_cluster: localdb.Cluster) -> None:
    localdb.start()
    owner = own_cluster.data.stat().st_uid
    assert owner != 0
    if os.geteuid() == 0:
        assert localdb.status()["run_as"] == "postgres"
        # PostgreSQL cannot reach a root-only folder, so the cluster lives elsewhere.
        assert not str(own_cluster.root).startswith(str(get_settings().data_dir)) or (
            localdb._traversable_by_others(get_settings().data_dir.parent)
        )


def test_busy_default_port_falls_back_to_a_free_one(
    own_cluster: localdb.Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        monkeypatch.setattr(localdb, "DEFAULT_PORT", blocker.getsockname()[1])
        localdb.start()
        assert own_cluster.port() != blocker.getsockname()[1]
        with psycopg.connect(own_cluster.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
