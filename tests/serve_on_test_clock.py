"""`python -m tests.serve_on_test_clock PORT`: the app in its own process (for the fault tests,
which kill it), living on the test clock: GRIDWATCH_TEST_NOW as tests/clock.py reads it."""

from __future__ import annotations

import sys

import time_machine
import uvicorn

from tests import clock


def main() -> None:
    clock.install_database_follower()
    start = clock.destination()
    if start is not None:
        time_machine.travel(start, tick=True).start()
    uvicorn.run("app.main:create_app", factory=True, port=int(sys.argv[1]), log_level="warning")


if __name__ == "__main__":
    main()
