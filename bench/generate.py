"""A province-sized data set for benchmarks: `python -m bench.generate --cells 100000
--reports 10000000` builds, in its own database `<name>_bench` next to the configured one,
a tree province → 100 districts → streets → communities → unit cells (0.01° squares), ~30k
staff with a member per cell and a leader per community (a few cells unstaffed), and a year
of reports (clustered on busy cells, some cells neglected, ~5 % flagged, night and weekend
patrols), loaded set-wise in SQL. Scale flags make a quick run take a minute.

Not a test: nothing asserts on it. `bench/run.py --province` measures against it."""

from __future__ import annotations

import argparse
import math
import time

import psycopg
from sqlalchemy.engine import make_url

from app.cli import ensure_database
from app.migrate import upgrade

DISTRICTS_SIDE = 10  # 10 × 10 districts
STREETS_SIDE = 2  # 2 × 2 streets per district
COMMUNITIES_SIDE = 2  # 2 × 2 communities per street
SIZE = 0.01  # unit cell edge, degrees (~1 km × 0.9 km here)
X0, Y0 = 112.0, 32.0


def bench_url(base: str) -> str:
    url = make_url(base.replace("postgresql+psycopg://", "postgresql://"))
    return url.set(database=f"{url.database}_bench").render_as_string(hide_password=False)


def recreate(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parsed.database}"')
    upgrade(url)


def step(conn: psycopg.Connection, label: str, sql: str, **params: object) -> None:
    # The SQL is built from this module's own constants and integers, never from input.
    t = time.perf_counter()
    cur = conn.execute(sql, params or None)  # type: ignore[arg-type]
    conn.commit()
    print(f"  {label}: {cur.rowcount:,} rows in {time.perf_counter() - t:.1f} s", flush=True)


def generate(url: str, cells: int, reports: int, staff: int) -> None:
    blocks = DISTRICTS_SIDE * STREETS_SIDE * COMMUNITIES_SIDE  # communities per side
    per = max(1, min(31, round(math.sqrt(cells) / blocks)))  # unit cells per community side
    side = blocks * per
    street_span, community_span = side // (DISTRICTS_SIDE * STREETS_SIDE), per
    district_span = side // DISTRICTS_SIDE
    with psycopg.connect(url) as conn:
        conn.execute("SET jit = off")
        # Unit cells on a grid; every code level follows from (i, j) by arithmetic.
        step(
            conn,
            "unit grid",
            f"""
            CREATE TABLE bench_units AS
            SELECT i, j, {X0} + j * {SIZE} AS x, {Y0} + ({side} - 1 - i) * {SIZE} AS y,
                   '41' || lpad(((i / {district_span}) * {DISTRICTS_SIDE}
                                 + j / {district_span} + 1)::text, 4, '0')
                   || lpad((((i / {street_span}) % {STREETS_SIDE}) * {STREETS_SIDE}
                            + (j / {street_span}) % {STREETS_SIDE} + 1)::text, 3, '0')
                   || lpad((((i / {community_span}) % {COMMUNITIES_SIDE}) * {COMMUNITIES_SIDE}
                            + (j / {community_span}) % {COMMUNITIES_SIDE} + 1)::text, 3, '0')
                   || lpad(((i % {per}) * {per} + j % {per} + 1)::text, 3, '0') AS code
              FROM generate_series(0, {side - 1}) i, generate_series(0, {side - 1}) j""",
        )
        step(
            conn,
            "province",
            f"""
            INSERT INTO cells (code, name, level, patrol_interval_hours, geom)
            VALUES ('410000', '演示省', 1, 72, ST_Multi(ST_MakeEnvelope(
                {X0}, {Y0}, {X0 + side * SIZE}, {Y0 + side * SIZE}, 4326)))""",
        )
        for level, digits in ((2, 6), (3, 9), (4, 12)):
            parent = "'410000'" if level == 2 else f"left(u.code, {digits - 3})"
            step(
                conn,
                f"level {level}",
                f"""
                INSERT INTO cells (code, name, level, parent_id, patrol_interval_hours, geom)
                SELECT b.code, '区划' || b.code, {level}, p.id, 72, b.geom
                  FROM (SELECT left(u.code, {digits}) AS code, min({parent}) AS parent_code,
                               ST_Multi(ST_MakeEnvelope(min(x), min(y), max(x) + {SIZE},
                                                        max(y) + {SIZE}, 4326)) AS geom
                          FROM bench_units u GROUP BY 1) b
                  JOIN cells p ON p.code = b.parent_code
                 ORDER BY b.code""",
            )
        step(
            conn,
            "unit cells",
            f"""
            INSERT INTO cells (code, name, level, parent_id, risk, patrol_interval_hours, geom)
            SELECT u.code, '网格' || u.code, 5, p.id,
                   CASE WHEN (i + j) % 17 = 0 THEN 'high' WHEN (i * j) % 5 = 0 THEN 'low'
                        ELSE 'medium' END,
                   CASE WHEN (i + j) % 17 = 0 THEN 24 WHEN (i * j) % 5 = 0 THEN 168 ELSE 72 END,
                   ST_Multi(ST_MakeEnvelope(x, y, x + {SIZE}, y + {SIZE}, 4326))
              FROM bench_units u JOIN cells p ON p.code = left(u.code, 12)
             ORDER BY u.code""",
        )
        step(
            conn,
            "staff",
            """INSERT INTO persons (username, name, phone, role)
             SELECT 'gy' || n, '网格员' || n, '139' || lpad(n::text, 8, '0'), 'inspector'
               FROM generate_series(1, %(staff)s) n""",
            staff=staff,
        )
        step(
            conn,
            "leaf index",
            """
            CREATE TABLE bench_leaves AS
            SELECT row_number() OVER (ORDER BY c.code) AS idx, c.id,
                   ST_X(ST_Centroid(c.geom)) AS x, ST_Y(ST_Centroid(c.geom)) AS y
              FROM cells c WHERE c.is_leaf""",
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_leaves (idx)")
        step(
            conn,
            "duties",
            """
            INSERT INTO duties (cell_id, person_id, duty, valid_from)
            SELECT l.id, 1 + (l.idx - 1) %% %(staff)s, d.duty, now() - interval '400 days'
              FROM bench_leaves l CROSS JOIN (VALUES ('member'), ('leader')) d(duty)
             WHERE NOT (d.duty = 'leader' AND l.idx %% 97 = 5)""",
            staff=staff,
        )
        # A year of reports: busy cells get many (a skewed pick), 1 in 50 cells none at all.
        step(
            conn,
            "reports",
            """
            INSERT INTO reports (id, reporter_id, cell_id, geom, lat, lon, accuracy_m,
                                 observed_at, received_at, kind, flags, counted, body_hash,
                                 origin)
            SELECT gen_random_uuid(), 1 + (l.idx - 1) %% %(staff)s, l.id,
                   ST_SetSRID(ST_MakePoint(l.x + dx, l.y + dy), 4326), l.y + dy, l.x + dx,
                   acc, t, t + interval '2 minutes', 'patrol',
                   CASE WHEN acc > 100 THEN ARRAY['low_accuracy'] ELSE '{}' END, acc <= 100,
                   'bench', 'import'
              FROM (SELECT count(*) AS n FROM bench_leaves) k,
                   LATERAL (SELECT floor(power(random(), 1.5) * k.n)::bigint + 1 AS idx,
                                   (random() - 0.5) * 0.008 AS dx, (random() - 0.5) * 0.008 AS dy,
                                   CASE WHEN random() < 0.05 THEN 150.0 ELSE 5 + random() * 40
                                   END AS acc,
                                   now() - random() * interval '365 days' AS t
                              FROM generate_series(1, %(reports)s)) r
              JOIN bench_leaves l ON l.idx = r.idx
             WHERE l.idx %% 50 <> 7""",
            reports=reports,
            staff=staff,
        )
        step(
            conn,
            "counted-patrol history",
            """
            INSERT INTO cell_visits (cell_id, person_id, observed_at, geom, report_id)
            SELECT cell_id, reporter_id, observed_at, geom, id FROM reports WHERE counted""",
        )
        step(
            conn,
            "cell summaries",
            """
            INSERT INTO cell_status (cell_id, last_patrol_at, last_patrol_by_id)
            SELECT DISTINCT ON (cell_id) cell_id, observed_at, person_id
              FROM cell_visits ORDER BY cell_id, observed_at DESC""",
        )
        conn.execute("DROP TABLE bench_units, bench_leaves")
        step(conn, "analyze", "ANALYZE")
        conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--reports", type=int, default=10_000_000)
    parser.add_argument("--staff", type=int, default=30_000)
    args = parser.parse_args()
    url = bench_url(ensure_database())
    print(f"generating into {url}")
    recreate(url)
    generate(url, args.cells, args.reports, args.staff)


if __name__ == "__main__":
    main()
