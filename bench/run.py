"""`make bench`: measure the grid registry on the demo city, with a baseline in the same run.

- cell lookup: resolve random points to unit cells through the app's domain function, against
  a raw psycopg prepared statement on the same database (the physical ceiling);
- partition check: the whole city's defects;
- gaps API: the whole demo city now and at a past instant, one district now;
- cells API: one page of 1,000 unit cells as GeoJSON.

The 100k-cell / 10M-report province generator is issue 9's; this measures the demo city.

Writes bench/results/<date>-grid.json and prints a table. Numbers are for comparison on one
machine, not assertions: tests assert behaviour, benchmarks measure speed.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
from fastapi.testclient import TestClient

from app.cli import ensure_database
from app.db import make_engine, make_sessionmaker
from app.demo.seed import seed
from app.domain.grid.cells import leaf_cell_at
from app.domain.grid.defects import partition_defects
from app.main import create_app
from bench.mapbench import first_paint_ms, tile_latency
from bench.timing import summary, timed

RESULTS = Path(__file__).parent / "results"
RAW_LOOKUP = (
    "SELECT code FROM cells WHERE is_leaf AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), "
    "4326)) ORDER BY code LIMIT 1"
)


def main() -> None:
    url = ensure_database()
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session, session.begin():
        seed(session)
    rng = np.random.default_rng(7)
    points = rng.uniform([113.80, 35.22], [114.05, 35.42], size=(2000, 2))
    now = datetime.now(UTC)
    results = []

    with make_sessionmaker(engine)() as session:
        it = iter(points)
        results.append(
            summary(
                "cell lookup (app)",
                timed(lambda: leaf_cell_at(session, *map(float, next(it)), now), len(points)),
            )
        )
        results.append(
            summary("partition defects, whole city", timed(lambda: partition_defects(session), 3))
        )

    with psycopg.connect(url, prepare_threshold=0) as conn:
        it = iter(points)
        results.append(
            summary(
                "cell lookup (raw psycopg, prepared)",
                timed(
                    lambda: conn.execute(RAW_LOOKUP, tuple(map(float, next(it)))).fetchone(),
                    len(points),
                ),
            )
        )

    with TestClient(create_app(url)) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": "demo-admin-2026"}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        past = (now - timedelta(days=3)).isoformat()
        for name, params, repeat in (
            ("GET /api/v1/gaps, whole demo city, now", {}, 20),
            ("GET /api/v1/gaps, whole demo city, 3 days ago", {"as_of": past}, 10),
            ("GET /api/v1/gaps?within=410702 (one district), now", {"within": "410702"}, 20),
        ):
            results.append(
                summary(
                    name,
                    timed(
                        lambda p=params: client.get("/api/v1/gaps", headers=headers, params=p),
                        repeat,
                    ),
                )
            )
        results.append(
            summary(
                "GET /api/v1/cells?leaf&format=geojson (1,000)",
                timed(
                    lambda: client.get(
                        "/api/v1/cells",
                        headers=headers,
                        params={"leaf": True, "format": "geojson", "limit": 1000},
                    ),
                    20,
                ),
            )
        )
    engine.dispose()

    with TestClient(create_app(url)) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": "demo-admin-2026"}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        results += tile_latency(client, headers, 113.91, 35.31)
    results.append(
        summary(
            "map first paint in Chromium (demo city)",
            first_paint_ms(url, "supervisor", "demo-supervisor-2026"),
        )
    )

    ratio = results[0]["per_second"] / results[2]["per_second"]  # type: ignore[operator]
    report = {
        "date": now.isoformat(),
        "machine": platform.platform(),
        "cpus": __import__("os").cpu_count(),
        "python": platform.python_version(),
        "results": results,
        "lookup_vs_raw_ceiling": round(ratio, 3),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{now:%Y-%m-%d}-grid.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"{'benchmark':<48} {'median ms':>10} {'p95 ms':>10} {'per s':>10}")
    for r in results:
        print(f"{r['name']:<48} {r['median_ms']:>10} {r['p95_ms']:>10} {r['per_second']:>10}")
    print(f"app lookup reaches {ratio:.0%} of the raw-psycopg ceiling; written to {out}")


if __name__ == "__main__":
    main()
