"""A baseline for the map's vector tiles: tipg (developmentseed's OGC Features + Tiles server)
serving the same `cells` table, timed over real HTTP like gridwatch's /tiles/cells/{z}/{x}/{y}.

tipg lives in its own virtualenv (.venv-tipg, made on demand) so its FastAPI/pydantic pins never
touch .venv. Each tile asks tipg for the same features gridwatch draws at that zoom (parents of
one tree depth below LEAF_ZOOM, unit cells from it on) with only `code` among the properties
(gridwatch's tiles also carry name, reasons and status, computed per request from the gaps).

    python -m bench.tipg_baseline --database-url postgresql://… --lon 112.4 --lat 32.4
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from app.domain.supervision.tiles import LEAF_ZOOM, PARENT_DEPTH
from bench.load import free_port, wait_ready
from bench.mapbench import tiles_around
from bench.timing import summary

TIPG_VERSION = "1.6.1"
UVICORN_VERSION = "0.54.0"
ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-tipg"
# The interpreter .venv was built from (this module runs from .venv).
BASE_PYTHON = Path(sys.base_prefix) / "bin" / "python3.11"


def ensure_tipg_venv() -> Path:
    """The python of .venv-tipg with tipg and uvicorn at the pinned versions, made if missing."""
    python = VENV / "bin" / "python"
    pins = [f"tipg=={TIPG_VERSION}", f"uvicorn=={UVICORN_VERSION}"]
    if python.exists():
        probe = "import importlib.metadata as m; print(m.version('tipg'), m.version('uvicorn'))"
        found = subprocess.run([python, "-c", probe], capture_output=True, text=True).stdout
        if found.split() == [TIPG_VERSION, UVICORN_VERSION]:
            return python
    t = time.perf_counter()
    if not python.exists():
        print(f"creating {VENV} with {BASE_PYTHON}", flush=True)
        subprocess.run([str(BASE_PYTHON), "-m", "venv", str(VENV)], check=True)
    print(f"installing {' '.join(pins)} into {VENV}", flush=True)
    pip = [str(python), "-m", "pip", "install", "-q", *pins]
    subprocess.run(pip, check=True)
    print(f"{VENV} ready in {time.perf_counter() - t:.0f} s", flush=True)
    return python


def tipg_env(database_url: str) -> dict[str, str]:
    """tipg's settings: only public.cells, no function collections, no catalog refresh."""
    return {
        "DATABASE_URL": database_url.replace("postgresql+psycopg://", "postgresql://"),
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.cells"]',
        "TIPG_DB_FUNCTIONS": "[]",
        "TIPG_CATALOG_TTL": "0",
        "TIPG_SET_MVT_LAYERNAME": "true",  # layer `cells` (as gridwatch's leaves), not `default`
        "TIPG_MAX_FEATURES_PER_TILE": "100000",  # gridwatch never truncates a tile
    }


@contextmanager
def running_tipg(database_url: str) -> Iterator[str]:
    """uvicorn with tipg.main:app from .venv-tipg on a free loopback port; yields its URL."""
    python = ensure_tipg_venv()
    port = free_port()
    cmd = [str(python), "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    # cwd=VENV: tipg's settings also read a `.env` in the working directory; keep ours out.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "POSTGRES_"))}
    proc = subprocess.Popen(cmd, cwd=VENV, env=env | tipg_env(database_url), start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc)  # /healthz answers once the catalog is registered
        yield base
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT to the server's whole process group, SIGKILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def tile_url(base: str, z: int, x: int, y: int) -> str:
    """tipg's tile of `cells`, filtered to the cells gridwatch draws at zoom z, only `code`."""
    # Path position PARENT_DEPTH[z] in the tree is cells.level PARENT_DEPTH[z] + 1.
    where = "is_leaf=true" if z >= LEAF_ZOOM else f"level={PARENT_DEPTH[z] + 1}"
    route = f"/collections/public.cells/tiles/WebMercatorQuad/{z}/{x}/{y}"
    return f"{base}{route}?properties=code&{where}"


def tipg_tile_latency(
    database_url: str, tiles: dict[int, list[tuple[int, int, int]]], rounds: int = 2
) -> list[dict[str, Any]]:
    """Per zoom: one warm-up fetch, then every tile `rounds` times, sequentially."""
    out = []
    with running_tipg(database_url) as base, httpx.Client(timeout=120) as client:

        def fetch(z: int, x: int, y: int) -> float:
            t = time.perf_counter()
            r = client.get(tile_url(base, z, x, y))
            elapsed = time.perf_counter() - t
            assert r.status_code == 200, f"{z}/{x}/{y}: {r.status_code} {r.text[:200]}"
            return elapsed

        for z, zoom_tiles in sorted(tiles.items()):
            fetch(*zoom_tiles[0])
            samples = [fetch(*tile) for _ in range(rounds) for tile in zoom_tiles]
            out.append(summary(f"tipg tile z{z}", samples))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--lon", type=float, default=112.4)
    parser.add_argument("--lat", type=float, default=32.4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    tiles = {z: tiles_around(args.lon, args.lat, z) for z in range(6, 17)}
    rows = tipg_tile_latency(args.database_url, tiles, args.rounds)
    print(f"tipg {TIPG_VERSION} around {args.lon}, {args.lat}")
    print(f"{'name':<16}{'n':>5}{'median ms':>12}{'p95 ms':>10}{'per s':>9}")
    for row in rows:
        print(
            f"{row['name']:<16}{row['n']:>5}{row['median_ms']:>12}{row['p95_ms']:>10}"
            f"{row['per_second']:>9}"
        )


if __name__ == "__main__":
    main()
