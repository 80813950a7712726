"""One streaming standby per test run, shared by every test process of the run.

`pg_basebackup` copies the whole test cluster (every worker's database, the demo snapshots),
which costs far more than the replica tests themselves; copying it once per run instead of
once per pytest-xdist worker halves that. The first process that needs the standby makes it
under a file lock; the others find it ready. A test that uses it holds a second lock for its
whole duration, since tests pause replay or stop the standby. The run's controller (or the
only process) stops it and drops its replication slot at the end (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import psycopg

from app import localdb
from tests.testrun import locked, run_path

SLOT_PREFIX = "gridwatch_test_standby_"


def home() -> Path:
    return run_path("standby")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_slots(server: str, *, only: str | None = None) -> None:
    """Drop this run's replication slot (`only`), or those left by test processes that have
    ended: a slot nobody follows keeps WAL on the server for ever."""
    with psycopg.connect(server, autocommit=True) as conn:
        for _ in range(100):
            names = [
                name
                for (name,) in conn.execute(
                    "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s "
                    "AND NOT active",
                    (SLOT_PREFIX + "%",),
                )
                if name == only or (only is None and not _alive(int(name[len(SLOT_PREFIX) :])))
            ]
            for name in names:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
            if only is None or names:
                return
            time.sleep(0.1)  # the stopped standby's walsender is still leaving


def shared(server: str) -> localdb.Cluster:
    """The run's standby of `server` (a maintenance-database URL), made on first use."""
    root = home()
    cluster = localdb.Cluster(root / "s")
    with locked("standby"):
        if (root / "slot").exists():
            return cluster
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        os.chmod(root, 0o711)  # the cluster's OS user reaches its folder inside
        # A slot keeps the WAL the standby needs on a busy server (without one, the server
        # may recycle it before the standby has caught up, and replication stops).
        slot = f"{SLOT_PREFIX}{os.getpid()}"
        try:
            drop_slots(server)
            localdb.start_standby(server, cluster.root, slot=slot)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        (root / "server").write_text(server)
        (root / "slot").write_text(slot)
    return cluster


def remove() -> None:
    """Stop the run's standby, if one was made, and drop its slot."""
    root = home()
    if not (root / "slot").exists():
        return
    localdb.stop_standby(localdb.Cluster(root / "s"))
    try:
        drop_slots((root / "server").read_text(), only=(root / "slot").read_text())
    finally:
        shutil.rmtree(root, ignore_errors=True)
