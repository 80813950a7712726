"""What the processes of one test run share: a name (set by the controller before the
pytest-xdist workers start, inherited by them), paths under the temporary folder named by it,
and exclusive locks between the processes. The controller (or the only process) removes them
at the end (tests/conftest.py)."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RUN_ENV = "GRIDWATCH_TEST_RUN"
PREFIX = "gridwatch-run-"


def name_the_run() -> None:
    os.environ.setdefault(RUN_ENV, uuid.uuid4().hex[:12])


def run_path(name: str) -> Path:
    """A path of this run's own (not created)."""
    return Path(tempfile.gettempdir()) / f"{PREFIX}{os.environ.get(RUN_ENV, os.getpid())}-{name}"


@contextmanager
def locked(name: str) -> Iterator[None]:
    """An exclusive lock shared by the run's processes (released if the holder dies)."""
    with run_path(f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_files() -> None:
    """Everything of this run's left in the temporary folder."""
    for path in run_path("").parent.glob(run_path("*").name):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
