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
from sqlalchemy.orm import Session

from app.cli import ensure_database
from app.db import make_engine
from app.domain.status import rebuild_summaries
from app.migrate import upgrade
from app.sql import partitions

DISTRICTS_SIDE = 10  # 10 × 10 districts
STREETS_SIDE = 2  # 2 × 2 streets per district
COMMUNITIES_SIDE = 2  # 2 × 2 communities per street
SIZE = 0.01  # unit cell edge, degrees (~1 km × 0.9 km here)
X0, Y0 = 112.0, 32.0


def bench_url(base: str, suffix: str = "province") -> str:
    """The province database `<configured name>_<suffix>` on the configured server."""
    url = make_url(base.replace("postgresql+psycopg://", "postgresql://"))
    return url.set(database=f"{url.database}_{suffix}").render_as_string(hide_password=False)


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


def drop_indexes(conn: psycopg.Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the secondary indexes of `tables` for a bulk load; returns their definitions."""
    rows = conn.execute(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename = ANY(%s) AND i.indexname NOT LIKE 'pk_%%'""",
        (list(tables),),
    ).fetchall()
    for name, _ in rows:
        conn.execute(f'DROP INDEX "{name}"')
    # A partitioned table's index prints as `ON ONLY` (the parent alone, left invalid): made
    # again on the table, it is built on every partition.
    return [definition.replace(" ON ONLY ", " ON ", 1) for _, definition in rows]


def restore_indexes(conn: psycopg.Connection, definitions: list[str]) -> None:
    t = time.perf_counter()
    conn.execute("SET maintenance_work_mem = '1GB'")
    for definition in definitions:
        conn.execute(definition)
    conn.commit()
    print(f"  indexes: {len(definitions)} rebuilt in {time.perf_counter() - t:.1f} s", flush=True)


# A hotspot's path through its lifecycle, by where it ends (SPEC §6's statuses).
LIFECYCLES = {
    "closed": ("reported", "accepted", "dispatched", "rectifying", "rectified", "closed"),
    "rejected": ("reported", "rejected"),
    "reported": ("reported",),
    "accepted": ("reported", "accepted"),
    "dispatched": ("reported", "accepted", "dispatched"),
    "rectifying": ("reported", "accepted", "dispatched", "rectifying"),
    "rectified": ("reported", "accepted", "dispatched", "rectifying", "rectified"),
}


def generate_hotspots(conn: psycopg.Connection, n: int, staff: int) -> None:
    """`n` hotspots over the year, most closed, a few still open or past their deadline; one
    event per step of the lifecycle, a day apart; complaints the grid missed (30 % of them)."""
    paths = ", ".join(
        f"('{end}', ARRAY[{', '.join(repr(s) for s in path)}])" for end, path in LIFECYCLES.items()
    )
    step(
        conn,
        "hotspots",
        """
        CREATE TABLE bench_hotspots AS
        SELECT gen_random_uuid() AS id, l.id AS cell_id, l.x + (h.v - 0.5) * 0.006 AS lon,
               l.y + (h.w - 0.5) * 0.006 AS lat, h.found_at, h.src,
               CASE WHEN h.found_at > now() - interval '40 days' AND h.u < 0.5
                    THEN (ARRAY['reported', 'accepted', 'dispatched', 'rectifying',
                                'rectified'])[1 + floor(h.w * 5)::int]
                    WHEN h.u < 0.06 THEN 'rejected'
                    WHEN h.u < 0.08 THEN 'rectifying'
                    ELSE 'closed' END AS final,
               1 + (l.idx + 11) %% %(staff)s AS assignee, h.missed
          FROM (SELECT count(*) AS n FROM bench_leaves) k,
               LATERAL (SELECT floor(random() * k.n)::bigint + 1 AS idx, random() AS u,
                               random() AS v, random() AS w,
                               now() - random() * interval '365 days' AS found_at,
                               CASE WHEN random() < 0.7 THEN 'patrol' ELSE 'complaint' END AS src,
                               random() < 0.3 AS missed
                          FROM generate_series(1, %(n)s)) h
          JOIN bench_leaves l ON l.idx = h.idx""",
        n=n,
        staff=staff,
    )
    step(
        conn,
        "hotspot rows",
        f"""
        INSERT INTO hotspots (id, cell_id, geom, lat, lon, category, description, source,
                              found_at, status, assignee_id, deadline, missed_by_grid,
                              closed_at, body_hash, created_at, updated_at)
        SELECT b.id, b.cell_id, ST_SetSRID(ST_MakePoint(b.lon, b.lat), 4326), b.lat, b.lon,
               'sewage', '生成的问题', b.src, b.found_at, b.final,
               CASE WHEN b.final = ANY (%(dispatched)s) THEN b.assignee END,
               CASE WHEN b.final = ANY (%(dispatched)s)
                    THEN b.found_at + interval '9 days' END,
               b.src = 'complaint' AND b.missed,
               CASE WHEN b.final = 'closed' THEN b.found_at + interval '5 days' END,
               'bench', b.found_at,
               -- the last step of its lifecycle (LIFECYCLES: one a day)
               least(b.found_at + make_interval(days => cardinality(p.path) - 1), now())
          FROM bench_hotspots b
          JOIN (VALUES {paths}) p(final, path) ON p.final = b.final""",
        dispatched=[end for end, path in LIFECYCLES.items() if "dispatched" in path],
    )
    step(
        conn,
        "hotspot events",
        f"""
        INSERT INTO hotspot_events (hotspot_id, at, actor_label, action, from_status, to_status,
                                    assignee_id, deadline)
        SELECT b.id, least(b.found_at + make_interval(days => s.n - 1), now()), 'bench',
               CASE WHEN s.n = 1 THEN 'create' ELSE 'transition' END,
               p.path[s.n - 1], p.path[s.n],
               CASE WHEN p.path[s.n] = 'dispatched' THEN b.assignee END,
               CASE WHEN p.path[s.n] = 'dispatched' THEN b.found_at + interval '9 days' END
          FROM bench_hotspots b
          JOIN (VALUES {paths}) p(final, path) ON p.final = b.final
         CROSS JOIN LATERAL generate_series(1, cardinality(p.path)) s(n)
         ORDER BY b.found_at, s.n""",
    )
    conn.execute("DROP TABLE bench_hotspots")


def summarise(url: str) -> None:
    t = time.perf_counter()
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            rebuild_summaries(session)
    finally:
        engine.dispose()
    print(f"  summaries: rebuilt in {time.perf_counter() - t:.1f} s", flush=True)


def generate(url: str, cells: int, reports: int, staff: int, hotspots: int) -> None:
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
        # 一长三员 with history: every cell a leader (1 in 97 lost theirs 30 days ago), a member
        # (a third rotated half a year ago), a patroller on every other cell and a supervisor
        # per 10 cells. Person numbers follow the cell so each person covers a few neighbours.
        step(
            conn,
            "duties",
            """
            INSERT INTO duties (cell_id, person_id, duty, valid_from, valid_to)
            SELECT l.id, 1 + (l.idx + d.shift) %% %(staff)s, d.duty,
                   now() - make_interval(days => d.since), now() - make_interval(days => d.until)
              FROM bench_leaves l
             CROSS JOIN (VALUES ('leader', 0, 400, NULL, 'all'),
                                ('member', 7, 400, 180, 'rotated'),
                                ('member', 11, 180, NULL, 'rotated'),
                                ('member', 11, 400, NULL, 'kept'),
                                ('patroller', 13, 300, NULL, 'even'),
                                ('supervisor', 17, 400, NULL, 'tenth'))
                   d(duty, shift, since, until, cells)
             WHERE CASE d.cells WHEN 'all' THEN true
                                WHEN 'rotated' THEN l.idx %% 3 = 0
                                WHEN 'kept' THEN l.idx %% 3 <> 0
                                WHEN 'even' THEN l.idx %% 2 = 0
                                ELSE l.idx %% 10 = 0 END""",
            staff=staff,
        )
        step(
            conn,
            "leaders gone",
            """UPDATE duties SET valid_to = now() - interval '30 days'
                FROM bench_leaves l
               WHERE duties.cell_id = l.id AND duties.duty = 'leader' AND l.idx % 97 = 5""",
        )
        # Pollution sources: one per 5 cells, a little off the cell's centre.
        step(
            conn,
            "sources",
            """
            INSERT INTO sources (type, name, geom, lat, lon, cell_id, inspection_interval_hours,
                                 created_at)
            SELECT (ARRAY['outfall', 'scattered_polluter', 'construction_site', 'coal_boiler',
                          'voc_enterprise'])[1 + l.idx % 5],
                   '污染源' || l.idx, ST_SetSRID(ST_MakePoint(l.x + 0.002, l.y + 0.001), 4326),
                   l.y + 0.001, l.x + 0.002, l.id,
                   CASE WHEN l.idx % 3 = 0 THEN 168 ELSE 720 END, now() - interval '400 days'
              FROM bench_leaves l WHERE l.idx % 5 = 0""",
        )
        # A year of reports. Busy cells get many (a skewed pick), 1 in 50 cells none at all and
        # 1 in 23 none in the last 60 days; 60 % lie along a road through the cell's middle,
        # 10 % next to its source; most in working hours, fewer at night and at weekends; 5 %
        # with a poor fix and 1 % caught as fraud (not counted).
        # Each month of the year its own partition before the load (app/sql/partitions.py):
        # the rows go straight to their month, not to the `_before` edge.
        for table, key in partitions.PARTITIONED.items():
            step(
                conn,
                f"{table} partitions",
                """
                SELECT gridwatch_partitions(CAST(%(table)s AS regclass), %(key)s, %(ahead)s,
                                            %(oldest)s, (now() - interval '370 days')::date)""",
                table=table,
                key=key,
                ahead=partitions.MONTHS_AHEAD,
                oldest=partitions.OLDEST_MONTH,
            )
        conn.execute("SET session_replication_role = replica")  # bulk load: skip FK triggers
        indexes = drop_indexes(conn, ("reports", "cell_visits"))
        step(
            conn,
            "reports",
            """
            INSERT INTO reports (id, reporter_id, cell_id, geom, lat, lon, accuracy_m,
                                 observed_at, received_at, kind, source_id, flags, counted,
                                 body_hash, origin)
            SELECT gen_random_uuid(), 1 + (l.idx + 11) %% %(staff)s, l.id,
                   ST_SetSRID(ST_MakePoint(px, py), 4326), py, px, acc, t,
                   t + CASE WHEN r.u < 0.03 THEN interval '3 hours' ELSE interval '40 seconds'
                       END,
                   CASE WHEN r.place = 2 THEN 'issue' ELSE 'patrol' END,
                   CASE WHEN r.place = 2 THEN s.id END, flags, cardinality(flags) = 0,
                   'bench', 'import'
              FROM (SELECT count(*) AS n FROM bench_leaves) k,
                   LATERAL (SELECT floor(power(random(), 1.5) * k.n)::bigint + 1 AS idx,
                                   random() AS u, random() AS v,
                                   CASE WHEN random() < 0.6 THEN 0
                                        WHEN random() < 0.25 THEN 2 ELSE 1 END AS place,
                                   floor(random() * 365) AS day,
                                   CASE WHEN random() < 0.85 THEN 8 + random() * 10
                                        ELSE random() * 24 END AS hour
                              FROM generate_series(1, %(reports)s)) r
              JOIN bench_leaves l ON l.idx = r.idx
              LEFT JOIN sources s ON s.cell_id = l.id,
                   LATERAL (SELECT CASE WHEN r.place = 2 AND s.id IS NOT NULL
                                        THEN s.lon + (r.v - 0.5) * 0.0004
                                        ELSE l.x + (random() - 0.5) * 0.008 END AS px,
                                   CASE WHEN r.place = 2 AND s.id IS NOT NULL
                                        THEN s.lat + (r.u - 0.5) * 0.0004
                                        WHEN r.place = 0 THEN l.y + (r.v - 0.5) * 0.0008
                                        ELSE l.y + (random() - 0.5) * 0.008 END AS py,
                                   CASE WHEN r.u > 0.95 THEN 150.0 ELSE 5 + r.v * 40 END AS acc,
                                   date_trunc('day', now()) - make_interval(days => r.day::int)
                                   -- weekends: two in three patrols move to the Friday
                                   - CASE WHEN extract(isodow FROM now() - make_interval(
                                                  days => r.day::int)) >= 6 AND r.v < 0.66
                                          THEN make_interval(days => extract(isodow FROM now()
                                               - make_interval(days => r.day::int))::int - 5)
                                          ELSE interval '0' END
                                   + make_interval(secs => r.hour * 3600) AS t) p,
                   LATERAL (SELECT array_remove(ARRAY[
                                       CASE WHEN r.u > 0.95 THEN 'low_accuracy' END,
                                       CASE WHEN r.u BETWEEN 0.5 AND 0.51
                                            THEN 'impossible_speed' END], NULL) AS flags) f
             WHERE l.idx %% 50 <> 7
               AND p.t < now()
               AND NOT (l.idx %% 23 = 3 AND p.t > now() - interval '60 days')""",
            reports=reports,
            staff=staff,
        )
        step(  # every report's id in report_keys (migration 0013), as intake claims them
            conn,
            "report keys",
            "INSERT INTO report_keys (id, observed_at) SELECT id, observed_at FROM reports",
        )
        step(
            conn,
            "counted-patrol history",
            """
            INSERT INTO cell_visits (cell_id, person_id, observed_at, geom, report_id)
            SELECT cell_id, reporter_id, observed_at, geom, id FROM reports WHERE counted""",
        )
        restore_indexes(conn, indexes)
        # Statistics before the summary steps: without them the planner scans the history.
        step(conn, "analyze", "ANALYZE")
        generate_hotspots(conn, hotspots, staff)
        conn.execute("SET session_replication_role = origin")
        conn.commit()
        # The bulk load went past app/domain/status.py and the triggers: every summary from
        # the facts, set-wise, by the statements the application uses.
        summarise(url)
        conn.execute("DROP TABLE bench_units, bench_leaves")
        # Marks a complete province (bench/suite.py regenerates one without it).
        conn.execute("CREATE TABLE bench_generated AS SELECT now() AS at")
        conn.commit()
        # As autovacuum leaves a live database: statistics, and the visibility map set, so
        # that index-only scans of the history (gaps in the past) read no table pages. Fresh
        # from the load they fetched one per probe: gaps 30 days ago took twice as long.
        conn.autocommit = True
        step(conn, "vacuum", "VACUUM (ANALYZE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--reports", type=int, default=10_000_000)
    parser.add_argument("--staff", type=int, default=30_000)
    parser.add_argument("--hotspots", type=int, default=200_000)
    parser.add_argument(
        "--name", default="province", help="database suffix: <configured database>_<name>"
    )
    args = parser.parse_args()
    url = bench_url(ensure_database(), args.name)
    print(f"generating into {url}")
    recreate(url)
    generate(url, args.cells, args.reports, args.staff, args.hotspots)


if __name__ == "__main__":
    main()
