"""`make bench-province`: /api/v1/gaps and /api/v1/lapses on the generated province
(`python -m bench.generate`, default 100k unit cells and 10M reports), with the naive
approach measured in the same run as the baseline: load a day of counted patrols into
geopandas, spatial-join them to the cells, group by cell (what an analyst's script would do).

Writes bench/results/<date>-province.json. Not a test: nothing asserts on speed."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime, timedelta

import geopandas as gpd
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from app.cli import ensure_database
from app.db import make_engine, make_sessionmaker
from app.domain.accounts import create_or_update_user
from app.main import create_app
from app.models import Cell
from bench.generate import bench_url
from bench.mapbench import first_paint_ms, tile_latency
from bench.run import RESULTS
from bench.timing import summary, timed

PASSWORD = "bench-admin-password"


def naive_gaps(engine_url: str, since: datetime) -> int:
    """The baseline: every counted report since `since` joined to every leaf cell in Python."""
    engine = make_engine(engine_url)
    with engine.connect() as conn:
        cells = gpd.read_postgis(
            text("SELECT id, geom FROM cells WHERE is_leaf"), conn, geom_col="geom"
        )
        points = gpd.read_postgis(
            text("SELECT id, geom FROM reports WHERE counted AND observed_at > :since"),
            conn,
            geom_col="geom",
            params={"since": since},
        )
    joined = gpd.sjoin(points, cells, predicate="within")
    patrolled = joined.groupby("id_right").size()
    engine.dispose()
    return int(len(cells) - len(patrolled))


def main() -> None:
    url = bench_url(ensure_database())
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session, session.begin():
        create_or_update_user(session, username="bench-admin", role="admin", password=PASSWORD)
        leaves = session.scalar(select(func.count()).select_from(Cell).where(Cell.is_leaf))
        reports = session.scalar(text("SELECT count(*) FROM reports"))
        district = session.scalar(select(Cell.code).where(Cell.level == 2).order_by(Cell.code))
    engine.dispose()
    now = datetime.now(UTC)
    results = []
    with TestClient(create_app(url)) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": "bench-admin", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        for name, path, params, repeat in (
            ("gaps, whole province, now", "/api/v1/gaps", {}, 5),
            ("gaps, one district, now", "/api/v1/gaps", {"within": district}, 10),
            (
                "gaps, whole province, 30 days ago",
                "/api/v1/gaps",
                {"as_of": (now - timedelta(days=30)).isoformat()},
                3,
            ),
            ("gaps roll-up by district, now", "/api/v1/gaps/rollup", {}, 5),
            (
                "lapses, one district, one month",
                "/api/v1/lapses",
                {
                    "within": district,
                    "from": (now - timedelta(days=30)).isoformat(),
                    "to": now.isoformat(),
                },
                3,
            ),
        ):

            def call(path: str = path, params: dict = params) -> None:  # type: ignore[type-arg]
                r = client.get(path, headers=headers, params=params)
                assert r.status_code == 200, r.text[:200]

            results.append(summary(name, timed(call, repeat)))
        results += tile_latency(client, headers, 112.0 + 1.6, 32.0 + 1.6)
    results.append(
        summary(
            "map first paint in Chromium (province)", first_paint_ms(url, "bench-admin", PASSWORD)
        )
    )
    naive = timed(lambda: naive_gaps(url, now - timedelta(days=1)), 1)
    results.append(summary("baseline: geopandas sjoin of one day of reports", naive))
    ratio = results[-1]["median_ms"] / results[0]["median_ms"]  # type: ignore[operator]
    report = {
        "date": now.isoformat(),
        "machine": platform.platform(),
        "leaf_cells": leaves,
        "reports": reports,
        "results": results,
        "gaps_now_vs_naive_speedup": round(ratio, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{now:%Y-%m-%d}-province.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"province: {leaves:,} leaf cells, {reports:,} reports")
    print(f"{'benchmark':<52} {'median ms':>10} {'p95 ms':>10}")
    for r in results:
        print(f"{r['name']:<52} {r['median_ms']:>10} {r['p95_ms']:>10}")
    print(f"gaps now is {ratio:.0f}x faster than the naive join; written to {out}")


if __name__ == "__main__":
    main()
