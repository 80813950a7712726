"""Issue 22's low-zoom and province-gap timings on a generated province, over HTTP from a
one-worker uvicorn as bench/suite.py measures them: tiles z6–z13 around the province's
centre, the roll-up by district, the whole province's gaps now (whole and paged) and 30 days
ago. `python -m bench.lowzoom <database url>`; prints one JSON line per benchmark. For
before/after figures on a medium province without the whole suite."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.ingest import plain_url
from bench.load import running_server, server_env
from bench.mapbench import tiles_around
from bench.suite import PASSWORD, USER, province_facts, timed_get
from bench.timing import summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--zooms", default="6,7,8,9,10,13")
    args = parser.parse_args()
    facts = province_facts(args.url)
    now = datetime.now(UTC)
    log = Path(tempfile.gettempdir()) / f"gridwatch-lowzoom-{os.getpid()}.log"
    with running_server(server_env(plain_url(args.url), 4), 1, log) as base:
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": USER, "password": PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            past = (now - timedelta(days=30)).isoformat()
            for name, path, params, n in (
                ("gaps roll-up by district, now", "/api/v1/gaps/rollup", {}, args.repeat),
                ("gaps, whole province, now", "/api/v1/gaps", {}, args.repeat),
                (
                    "gaps, whole province, now, first page",
                    "/api/v1/gaps",
                    {"limit": 1000},
                    args.repeat,
                ),
                ("gaps, whole province, 30 days ago", "/api/v1/gaps", {"as_of": past}, 3),
            ):
                client.get(path, params=params)  # warm-up
                print(json.dumps(summary(name, timed_get(client, path, params, n))), flush=True)
            for z in (int(z) for z in args.zooms.split(",")):
                batch = tiles_around(facts["lon"], facts["lat"], z)
                for zz, x, y in batch:
                    client.get(f"/tiles/cells/{zz}/{x}/{y}.pbf")
                samples: list[float] = []
                for _ in range(2):
                    for zz, x, y in batch:
                        samples += timed_get(client, f"/tiles/cells/{zz}/{x}/{y}.pbf", {}, 1)
                print(json.dumps(summary(f"tile z{z}", samples)), flush=True)


if __name__ == "__main__":
    main()
