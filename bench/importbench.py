"""The historical import at scale: `gridwatch import-reports` of a generated CSV, timed as a
whole process (start-up, parsing, rules, the audit entries, commit) against a province.

The file: `rows` patrol reports by 32 inspectors (bench/ingest.py's accounts, each on duty in
its own unit cell), one second apart per inspector, all observed within the last day — every
row is counted, so the import does its full work per row. Fresh ids each run: nothing is
"already present". `python -m bench.importbench --rows N` runs it alone against the province.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.generate import bench_url
from bench.ingest import prepare_inspectors

COLUMNS = ["id", "username", "lat", "lon", "accuracy_m", "observed_at", "kind", "category"]
COLUMNS += ["description"]
INSPECTORS = 32
NAME = "import-reports of history (CLI)"


def write_file(path: Path, url: str, rows: int, seed: int = 7) -> None:
    inspectors = prepare_inspectors(url, INSPECTORS)
    rng = random.Random(seed)
    per = -(-rows // len(inspectors))
    start = datetime.now(UTC) - timedelta(hours=20)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        written = 0
        for inspector in inspectors:
            for k in range(min(per, rows - written)):
                lon, lat = inspector.point(rng)
                observed = start + timedelta(seconds=k)
                out.writerow(
                    [uuid.uuid4(), inspector.username, f"{lat:.7f}", f"{lon:.7f}"]
                    + [round(rng.uniform(3, 30), 1), observed.isoformat(timespec="seconds")]
                    + ["patrol", "", "历史导入 巡查"]
                )
            written += min(per, rows - written)


def import_benchmark(url: str, rows: int) -> dict[str, Any]:
    """Seconds and rows per second of one `gridwatch import-reports` of `rows` new reports."""
    gridwatch = Path(sys.executable).with_name("gridwatch")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.csv"
        write_file(path, url, rows)
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
