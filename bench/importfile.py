"""A history file for `gridwatch import-reports`: `python -m bench.importfile --database-url URL
--rows 100000 OUT.csv`.

Reads the people on a patrol duty (leader, member, patroller) now and their unit cells from a
generated province (`python -m bench.generate`) and writes `rows` reports filed by them from
120 days ago on (history, not live intake). Each person patrols their own cell every
~2 h near its centre; 1 % of the reports jump ~50 km a minute after the previous one
(impossible_speed), 3 % are low-accuracy fixes, 5 % are `issue` reports (each opens a case).
Seeded: the same arguments give the same file (fresh UUIDs from the seed).

Time it with the CLI on a fresh copy of the province each run (the import writes):
`createdb -T <province db> <copy>` then `GRIDWATCH_DATABASE_URL=<copy> gridwatch import-reports
OUT.csv`; re-importing the same file into the same database times the idempotent path.
"""

from __future__ import annotations

import argparse
import csv
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from app.rules import PATROL_DUTIES
from bench.ingest import plain_url

COLUMNS = ("id", "username", "lat", "lon", "accuracy_m", "observed_at", "kind", "category")
COLUMNS += ("description",)


def patrollers(url: str, limit: int) -> list[tuple[str, float, float]]:
    """(username, centre lon, centre lat) of people holding a patrol duty on a leaf cell now."""
    with psycopg.connect(plain_url(url)) as conn:
        rows = conn.execute(
            """
            SELECT DISTINCT ON (p.id) p.username, ST_X(ST_PointOnSurface(c.geom)),
                   ST_Y(ST_PointOnSurface(c.geom))
              FROM duties d JOIN persons p ON p.id = d.person_id JOIN cells c ON c.id = d.cell_id
             WHERE c.is_leaf AND d.duty = ANY(%s) AND d.valid_to IS NULL
               AND (d.valid_from IS NULL OR d.valid_from < now() - interval '150 days')
             ORDER BY p.id, c.id
             LIMIT %s
            """,
            (list(PATROL_DUTIES), limit),
        ).fetchall()
    return [(u, float(x), float(y)) for u, x, y in rows]


def write_file(
    path: Path, people: list[tuple[str, float, float]], rows: int, seed: int = 22
) -> None:
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=120)
    per_person = -(-rows // len(people))
    written = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for username, x, y in people:
            at = start + timedelta(minutes=rng.randrange(600))
            for _ in range(min(per_person, rows - written)):
                roll = rng.random()
                lon = x + rng.uniform(-0.002, 0.002)
                lat = y + rng.uniform(-0.002, 0.002)
                if roll < 0.01:  # a jump no one can walk: impossible_speed
                    lon, at = lon + 0.5, at + timedelta(minutes=1)
                else:
                    at += timedelta(minutes=rng.randrange(60, 180))
                issue = 0.01 <= roll < 0.06
                out.writerow(
                    (
                        uuid.UUID(int=rng.getrandbits(128), version=4),
                        username,
                        f"{lat:.6f}",
                        f"{lon:.6f}",
                        "250" if 0.06 <= roll < 0.09 else str(rng.randrange(3, 30)),
                        at.isoformat(),
                        "issue" if issue else "patrol",
                        "dust" if issue else "",
                        "裸土未覆盖" if issue else "例行巡查",
                    )
                )
                written += 1
            if written >= rows:
                break


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.importfile", description=__doc__)
    p.add_argument("--database-url", required=True, help="a generated province")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--people", type=int, default=2_000, help="how many people file them")
    p.add_argument("--seed", type=int, default=22)
    p.add_argument("out", type=Path)
    args = p.parse_args(argv)
    people = patrollers(args.database_url, args.people)
    if not people:
        p.error("no one holds a patrol duty in that database")
    write_file(args.out, people, args.rows, args.seed)
    print(f"wrote {args.rows} reports by {len(people)} people to {args.out}")


if __name__ == "__main__":
    main()
