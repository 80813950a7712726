"""The historical import at scale: `gridwatch import-reports` of a generated CSV, timed as a
whole process (start-up, parsing, rules, the audit entries, commit) against a province.

The file (bench/importfile.py): `rows` reports by 2,000 people on patrol duty over the last
120 days, with impossible-speed jumps, low-accuracy fixes and issue reports mixed in as a
real history holds them. Fresh ids each run: nothing is "already present".
`python -m bench.importbench --rows N` runs it alone against the province.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.generate import bench_url
from bench.importfile import patrollers, write_file

NAME = "import-reports of history (CLI)"
PEOPLE = 2_000


def import_benchmark(url: str, rows: int) -> dict[str, Any]:
    """Seconds and rows per second of one `gridwatch import-reports` of `rows` new reports."""
    gridwatch = Path(sys.executable).with_name("gridwatch")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.csv"
        # A new seed each run: fresh ids, so nothing in the file is "already present".
        write_file(path, patrollers(url, PEOPLE), rows, seed=time.time_ns())
        env = os.environ | {"GRIDWATCH_DATABASE_URL": url}
        t = time.perf_counter()
        done = subprocess.run(
            [str(gridwatch), "import-reports", str(path)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"import-reports failed ({done.returncode}): {done.stderr[-2000:]}")
    return {
        "name": NAME,
        "n": rows,
        "median_ms": round(seconds * 1000, 1),
        "p95_ms": round(seconds * 1000, 1),
        "rows_per_s": round(rows / seconds, 1),
        "summary": done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "",
    }


def main(argv: list[str] | None = None) -> None:
    from app.cli import ensure_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--name", default="province", help="the generated database's suffix")
    args = parser.parse_args(argv)
    print(import_benchmark(bench_url(ensure_database(), args.name), args.rows))


if __name__ == "__main__":
    main()
