"""Map benchmarks shared by bench/run.py (demo city) and bench/suite.py: vector-tile
latency per zoom level, and the coverage map's first paint in headless Chromium."""

from __future__ import annotations

import math
from typing import Any

from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright

from app.main import create_app
from app.serving import CHROMIUM, CHROMIUM_ARGS, serve_in_thread
from bench.timing import summary, timed


def tiles_around(lon: float, lat: float, z: int, radius: int = 1) -> list[tuple[int, int, int]]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return [
        (z, x + dx, y + dy)
        for dx in range(-radius, radius + 1)
        for dy in range(-radius, radius + 1)
        if 0 <= x + dx < n and 0 <= y + dy < n
    ]


def tile_latency(
    client: TestClient, headers: dict[str, str], lon: float, lat: float, zooms: range = range(6, 17)
) -> list[dict[str, Any]]:
    out = []
    for z in zooms:
        tiles = tiles_around(lon, lat, z)
        it = iter(tiles * 2)

        def fetch(it: Any = it) -> None:
            zz, xx, yy = next(it)
            r = client.get(f"/tiles/cells/{zz}/{xx}/{yy}.pbf", headers=headers)
            assert r.status_code == 200

        out.append(summary(f"tile z{z}", timed(fetch, len(tiles) * 2)))
    return out


def first_paint_ms(database_url: str, username: str, password: str, repeat: int = 3) -> list[float]:
    """Sign in once, then time /map from navigation to its first drawn cell tiles."""
    samples = []
    with serve_in_thread(create_app(database_url)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(base + "/login")
        page.get_by_test_id("login-username").fill(username)
        page.get_by_test_id("login-password").fill(password)
        page.get_by_test_id("login-submit").click()
        page.wait_for_function(
            "() => window.gridwatchMap && gridwatchMap.state.tilesLoaded > 0", timeout=120_000
        )
        for _ in range(repeat):
            page.goto(base + "/map")
            page.wait_for_function(
                "() => window.gridwatchMap && gridwatchMap.state.tilesLoaded > 0", timeout=120_000
            )
            samples.append(page.evaluate("() => performance.now()") / 1000)
        browser.close()
    return samples
