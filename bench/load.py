"""`make bench-load`: a bounded load test of the served app over loopback HTTP (issue 8).

It prepares its own database, `gridwatch_load` on the same server as every other command
(dropped and re-created each run, so it never touches another database): migrations, the
demo city, one inspector account per simulated phone with a duty on its own demo unit cell.
It then starts the app with uvicorn in a subprocess (`--workers 2` by default) on a free
loopback port and drives it for `--seconds` (600 by default):

- phones (50): file patrol reports with client UUIDs at a point inside their cell — mostly
  `POST /api/v1/reports`, some offline batches of 5–20 through `POST /api/v1/reports/batch`,
  now and then a deliberate re-send of a report already acknowledged (a lost answer). A
  connection error, a timeout or a 5xx is retried with the same UUIDs and body;
- supervisors (5, the demo supervisor/command/discipline/admin logins, cycled): the gap list,
  the roll-up and vector tiles around the demo city, a 3×2 block at a time like a map view.

Afterwards it counts requests, errors (any 5xx, a connection failure or timeout left after
the retries, any unexpected 4xx), latency percentiles per endpoint, reports sent (distinct
UUIDs) and reports stored (rows in `gridwatch_load.reports` with those ids), writes
bench/results/<date>-load.json, prints a table and exits 1 unless errors == 0,
stored == sent and the audit chain verifies. Numbers describe one machine; the load
generator shares its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.cli import ensure_database
from app.db import make_engine, make_sessionmaker
from app.demo.seed import CITY_CODE, DEMO_USERS, seed
from app.domain import audit
from app.domain.accountability import verify as audit_verify
from app.domain.people.accounts import create_or_update_user
from app.migrate import upgrade
from app.models import Duty

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
DB_NAME = "gridwatch_load"
LOCAL = ZoneInfo("Asia/Shanghai")  # phones send device time with their offset
SUPERVISOR_ROLES = ("supervisor", "command", "discipline", "admin")
TILE_ZOOMS = (10, 11, 12, 13, 14, 15)
ISSUES = ("dust", "open_burning", "black_smoke", "sewage", "illegal_dumping")

TOKEN = "POST /api/v1/auth/token"
REPORT = "POST /api/v1/reports"
BATCH = "POST /api/v1/reports/batch"
GAPS = "GET /api/v1/gaps"
ROLLUP = "GET /api/v1/gaps/rollup"
TILE = "GET /tiles/cells/{z}/{x}/{y}.pbf"
ENDPOINTS = (TOKEN, REPORT, BATCH, GAPS, ROLLUP, TILE)


# --- options ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=600, help="length of the load phase")
    p.add_argument("--phones", type=int, default=50, help="simulated inspectors' phones")
    p.add_argument("--supervisors", type=int, default=5, help="simulated supervisors")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--think", type=float, default=1.0, help="mean pause between actions, s")
    p.add_argument("--batch-share", type=float, default=0.15, help="phone actions that batch")
    p.add_argument("--resend-share", type=float, default=0.03, help="deliberate re-sends")
    p.add_argument("--timeout", type=float, default=30.0, help="client timeout per request, s")
    p.add_argument("--attempts", type=int, default=5, help="tries per request before an error")
    p.add_argument("--seed", type=int, default=8, help="random seed of the simulated clients")
    args = p.parse_args(argv)
    if args.phones < 1 or args.supervisors < 0 or args.seconds <= 0 or args.attempts < 1:
        p.error("need --phones >= 1, --supervisors >= 0, --seconds > 0, --attempts >= 1")
    return args


# --- the load database -------------------------------------------------------------------


def load_url(server_url: str) -> str:
    """The URL of gridwatch_load on the server `server_url` points at."""
    url = make_url(server_url.replace("postgresql+psycopg://", "postgresql://"))
    return url.set(database=DB_NAME).render_as_string(hide_password=False)


def recreate_database(url: str) -> None:
    """Drop gridwatch_load (only that database) and create it empty, then migrate."""
    parsed = make_url(url)
    assert parsed.database == DB_NAME, "the load test only ever drops its own database"
    admin = parsed.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    upgrade(url)


@dataclass(frozen=True)
class Phone:
    username: str
    password: str
    cell_code: str
    lon: float
    lat: float


@dataclass(frozen=True)
class World:
    phones: list[Phone]
    supervisors: list[tuple[str, str]]
    bounds: tuple[float, float, float, float]  # lon/lat of the demo city's extent
    unit_cells: int
    seeded_reports: int


_UNIT_CELLS = text("""
    SELECT c.id, c.code, ST_X(p.pt) AS lon, ST_Y(p.pt) AS lat
      FROM cells c CROSS JOIN LATERAL (SELECT ST_PointOnSurface(c.geom) AS pt) p
     WHERE c.is_leaf AND c.valid_to IS NULL
     ORDER BY c.code
""")
_CITY_BOUNDS = text("""
    SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
      FROM (SELECT ST_Extent(geom) AS e FROM cells WHERE code = :city) s
""")


def spread(items: list[Any], n: int) -> list[Any]:
    """n items evenly spaced over the list (distinct while n <= len(items))."""
    return [items[i * len(items) // n] for i in range(n)]


def prepare_world(url: str, phones: int, supervisors: int) -> World:
    """Seed the demo city and give each phone an inspector with a duty on its own cell."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            audit.act_as(session, audit.Actor("bench:load"))
            seed(session)
            cells = list(session.execute(_UNIT_CELLS).all())
            if phones > len(cells):
                raise SystemExit(f"--phones {phones} exceeds the {len(cells)} demo unit cells")
            since = datetime.now(UTC) - timedelta(days=1)
            made = [
                make_phone(session, i, cell, since)
                for i, cell in enumerate(spread(cells, phones), 1)
            ]
            bounds = tuple(
                float(v) for v in session.execute(_CITY_BOUNDS, {"city": CITY_CODE}).one()
            )
            seeded = int(session.scalar(text("SELECT count(*) FROM reports")) or 0)
    finally:
        engine.dispose()
    logins = [(u, pw) for u, role, _s, _n, pw in DEMO_USERS if role in SUPERVISOR_ROLES]
    return World(
        phones=made,
        supervisors=[logins[i % len(logins)] for i in range(supervisors)],
        bounds=bounds,  # type: ignore[arg-type]
        unit_cells=len(cells),
        seeded_reports=seeded,
    )


def make_phone(session: Any, i: int, cell: Any, since: datetime) -> Phone:
    username, password = f"load-phone-{i:03d}", f"load-phone-password-{i:03d}"
    person, _ = create_or_update_user(
        session, username=username, role="inspector", password=password, name=f"负载测试{i}"
    )
    session.add(Duty(cell_id=cell.id, person_id=person.id, duty="member", valid_from=since))
    return Phone(username, password, cell.code, float(cell.lon), float(cell.lat))


# --- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(url: str, logins: int) -> dict[str, str]:
    """The app's settings for this run. All clients share 127.0.0.1, so the per-address
    sign-in limit (meant for one client address) is raised to the number of logins."""
    return {
        "GRIDWATCH_DATABASE_URL": url,
        "GRIDWATCH_LOGIN_ATTEMPTS_PER_MINUTE": str(max(20, 2 * logins)),
    }


def wait_ready(base: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode} before it was ready")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready")


@contextmanager
def running_server(env: dict[str, str], workers: int, log_path: Path) -> Iterator[str]:
    """uvicorn with the app factory in a subprocess on a free loopback port; yields its URL."""
    with server_process(env, workers, log_path) as (base, _):
        yield base


@contextmanager
def server_process(
    env: dict[str, str], workers: int, log_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """As `running_server`, yielding the process too (with one worker, the server itself)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "app.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=os.environ | env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, proc)
            yield base, proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- what the clients record -------------------------------------------------------------


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    tile_zooms: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    transport: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    retries: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[dict[str, Any]] = field(default_factory=list)
    sent: set[uuid.UUID] = field(default_factory=set)
    acknowledged: set[uuid.UUID] = field(default_factory=set)
    not_counted: Counter[str] = field(default_factory=Counter)
    resends: int = 0
    item_retries: int = 0
    throttled_logins: int = 0

    def error(self, endpoint: str, kind: str, detail: str) -> None:
        self.errors[endpoint] += 1
        if len(self.error_samples) < 50:
            at = datetime.now(UTC).isoformat(timespec="seconds")
            self.error_samples.append(
                {"at": at, "endpoint": endpoint, "kind": kind, "detail": detail[:500]}
            )

    def stored_answer(self, report: dict[str, Any]) -> None:
        """A report the server says it holds; note when it does not count (flags)."""
        self.acknowledged.add(uuid.UUID(report["id"]))
        if not report.get("counted"):
            self.not_counted[",".join(report.get("flags") or ["no cell"])] += 1


async def attempt(
    client: httpx.AsyncClient, stats: Stats, endpoint: str, method: str, url: str, **kw: Any
) -> httpx.Response | None:
    """One HTTP exchange, timed. None after a connection failure or a timeout."""
    started = time.perf_counter()
    try:
        r = await client.request(method, url, **kw)
    except httpx.TransportError as exc:
        stats.transport[endpoint][type(exc).__name__] += 1
        return None
    elapsed = time.perf_counter() - started
    stats.latencies[endpoint].append(elapsed)
    if endpoint == TILE:
        stats.tile_zooms[int(url.split("/")[3])].append(elapsed)
    stats.statuses[endpoint][r.status_code] += 1
    if r.status_code >= 500:
        stats.error(endpoint, f"HTTP {r.status_code}", r.text)
    return r


async def with_retries(
    client: httpx.AsyncClient,
    stats: Stats,
    attempts: int,
    endpoint: str,
    method: str,
    url: str,
    **kw: Any,
) -> httpx.Response | None:
    """Retry connection failures, timeouts and 5xx with the identical request (backoff
    0.5, 1, 2… s). None, counted as an error, when every attempt failed."""
    for n in range(attempts):
        if n:
            stats.retries[endpoint] += 1
            await asyncio.sleep(min(8.0, 0.5 * 2 ** (n - 1)))
        r = await attempt(client, stats, endpoint, method, url, **kw)
        if r is not None and r.status_code < 500:
            return r
    stats.error(endpoint, "retries exhausted", f"{method} {url}: {attempts} attempts failed")
    return None


# --- signing in ----------------------------------------------------------------------------


async def sign_in(base: str, stats: Stats, attempts: int, username: str, password: str) -> str:
    """A bearer token; a 429 (sign-in limit) waits for Retry-After and tries again."""
    form = {"username": username, "password": password}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for _ in range(10):
            r = await with_retries(
                client, stats, attempts, TOKEN, "POST", "/api/v1/auth/token", data=form
            )
            if r is not None and r.status_code == 429:
                stats.throttled_logins += 1
                await asyncio.sleep(float(r.headers.get("Retry-After", "5")))
                continue
            if r is not None and r.status_code == 200:
                return str(r.json()["access_token"])
            break
    detail = "no answer" if r is None else f"HTTP {r.status_code}: {r.text[:200]}"
    raise SystemExit(f"cannot sign in as {username}: {detail}")


async def sign_in_all(
    base: str, stats: Stats, attempts: int, logins: list[tuple[str, str]]
) -> list[str]:
    gate = asyncio.Semaphore(8)  # argon2 is meant to be slow: no need to queue them all

    async def one(username: str, password: str) -> str:
        async with gate:
            return await sign_in(base, stats, attempts, username, password)

    return list(await asyncio.gather(*(one(u, p) for u, p in logins)))


# --- phones --------------------------------------------------------------------------------


def report_body(phone: Phone, rng: random.Random, age_s: float = 0.0) -> dict[str, Any]:
    """A patrol (sometimes an issue) at the phone's point, observed `age_s` seconds ago."""
    observed = datetime.now(LOCAL) - timedelta(seconds=age_s)
    issue = rng.random() < 0.1
    return {
        "id": str(uuid.uuid4()),  # the phone's client UUID
        "lat": phone.lat,
        "lon": phone.lon,
        "accuracy_m": round(rng.uniform(3, 30), 1),
        "observed_at": observed.isoformat(timespec="milliseconds"),
        "kind": "issue" if issue else "patrol",
        "category": rng.choice(ISSUES) if issue else None,
        "description": "负载测试 巡查" if not issue else "负载测试 发现问题",
    }


async def file_single(
    client: httpx.AsyncClient, stats: Stats, attempts: int, body: dict[str, Any], resend: bool
) -> bool:
    """POST one report; True when the server holds it (201 new, 200 identical re-send)."""
    stats.sent.add(uuid.UUID(body["id"]))
    r = await with_retries(client, stats, attempts, REPORT, "POST", "/api/v1/reports", json=body)
    if r is None:
        return False
    if r.status_code not in (200, 201):
        stats.error(REPORT, f"unexpected {r.status_code}", r.text)
        return False
    if resend and r.status_code != 200:
        stats.error(REPORT, "re-send stored anew", f"{body['id']} answered {r.status_code}")
    stats.stored_answer(r.json())
    return True


async def file_batch(
    client: httpx.AsyncClient, stats: Stats, attempts: int, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """POST an offline batch; items answered 409 'filed concurrently' (a retry racing its
    first try) are sent again. Returns the items the server holds."""
    stats.sent.update(uuid.UUID(item["id"]) for item in items)
    pending, held = items, list[dict[str, Any]]()
    for _ in range(attempts):
        r = await with_retries(
            client, stats, attempts, BATCH, "POST", "/api/v1/reports/batch", json=pending
        )
        if r is None:
            return held
        if r.status_code != 200:
            stats.error(BATCH, f"unexpected {r.status_code}", r.text)
            return held
        again = []
        for result in r.json()["results"]:
            item = pending[result["index"]]
            if result["status"] in (200, 201):
                stats.stored_answer(result["report"])
                held.append(item)
            elif result["status"] == 409 and "concurrently" in str(result.get("detail")):
                again.append(item)
            else:
                stats.error(BATCH, f"item {result['status']}", json.dumps(result)[:500])
        if not again:
            return held
        stats.item_retries += len(again)
        pending = again
    stats.error(BATCH, "items never stored", f"{len(pending)} items still answered 409")
    return held


async def phone_loop(
    base: str, token: str, phone: Phone, stats: Stats, args: argparse.Namespace, end: float
) -> None:
    rng = random.Random(f"{args.seed}:{phone.username}")
    held: list[dict[str, Any]] = []  # reports the server acknowledged, for re-sends
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=args.timeout) as client:
        while True:
            await asyncio.sleep(rng.expovariate(1 / args.think))
            if time.monotonic() >= end:
                return
            roll = rng.random()
            if held and roll < args.resend_share:
                stats.resends += 1
                await file_single(client, stats, args.attempts, rng.choice(held), resend=True)
            elif roll < args.resend_share + args.batch_share:
                ages = sorted(
                    (rng.uniform(60, 1800) for _ in range(rng.randint(5, 20))), reverse=True
                )
                items = [report_body(phone, rng, age) for age in ages]
                held += await file_batch(client, stats, args.attempts, items)
            else:
                body = report_body(phone, rng)
                if await file_single(client, stats, args.attempts, body, resend=False):
                    held.append(body)


# --- supervisors -----------------------------------------------------------------------


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def map_view(bounds: tuple[float, float, float, float], rng: random.Random) -> list[str]:
    """The 3×2 tiles of a map view centred somewhere in the demo city at a random zoom."""
    z = rng.choice(TILE_ZOOMS)
    x, y = tile_of(rng.uniform(bounds[0], bounds[2]), rng.uniform(bounds[1], bounds[3]), z)
    return [f"/tiles/cells/{z}/{x + dx}/{y + dy}.pbf" for dx in (-1, 0, 1) for dy in (0, 1)]


async def supervisor_get(
    client: httpx.AsyncClient, stats: Stats, attempts: int, endpoint: str, url: str, **kw: Any
) -> None:
    r = await with_retries(client, stats, attempts, endpoint, "GET", url, **kw)
    if r is not None and r.status_code != 200:
        stats.error(endpoint, f"unexpected {r.status_code}", r.text)


async def supervisor_loop(
    base: str,
    token: str,
    who: str,
    world: World,
    stats: Stats,
    args: argparse.Namespace,
    end: float,
) -> None:
    rng = random.Random(f"{args.seed}:{who}")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=args.timeout) as client:
        while True:
            await asyncio.sleep(rng.expovariate(1 / args.think))
            if time.monotonic() >= end:
                return
            roll = rng.random()
            if roll < 0.2:
                await supervisor_get(client, stats, args.attempts, GAPS, "/api/v1/gaps")
            elif roll < 0.4:
                params = {"depth": rng.choice((1, 2))}
                await supervisor_get(
                    client, stats, args.attempts, ROLLUP, "/api/v1/gaps/rollup", params=params
                )
            else:
                tiles = map_view(world.bounds, rng)
                await asyncio.gather(
                    *(supervisor_get(client, stats, args.attempts, TILE, t) for t in tiles)
                )


async def drive(
    base: str, url: str, world: World, args: argparse.Namespace, stats: Stats
) -> tuple[float, dict[str, Any]]:
    """Sign everyone in, then run phones and supervisors for args.seconds. Returns the length
    of the load phase in seconds (until the last in-flight request finished) and what else
    the machine did meanwhile."""
    logins = [(p.username, p.password) for p in world.phones] + world.supervisors
    tokens = await sign_in_all(base, stats, args.attempts, logins)
    phone_tokens, sup_tokens = tokens[: len(world.phones)], tokens[len(world.phones) :]
    before = host_sample(url)
    started = time.monotonic()
    end = started + args.seconds
    tasks = [
        phone_loop(base, t, p, stats, args, end)
        for p, t in zip(world.phones, phone_tokens, strict=True)
    ]
    tasks += [
        supervisor_loop(base, t, f"{u}#{i}", world, stats, args, end)
        for i, ((u, _), t) in enumerate(zip(world.supervisors, sup_tokens, strict=True))
    ]
    await asyncio.gather(*tasks)
    return time.monotonic() - started, host_usage(before, host_sample(url))


# --- the machine meanwhile -----------------------------------------------------------------


def host_sample(url: str) -> dict[str, Any]:
    """CPU counters of the machine and of this process, the load average, and the
    transactions every database on the server has run so far."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    with psycopg.connect(url) as conn:
        xacts: dict[str, int] = dict(
            conn.execute(
                "SELECT datname, xact_commit + xact_rollback FROM pg_stat_database "
                "WHERE datname IS NOT NULL"
            ).fetchall()
        )
    return {
        "at": time.monotonic(),
        "busy": sum(ticks) - ticks[3] - ticks[4],  # all but idle and iowait
        "total": sum(ticks),
        "client_cpu": time.process_time(),
        "loadavg": os.getloadavg(),
        "xacts": xacts,
    }


def host_usage(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Cores busy during the load phase (machine-wide and this load generator) and the
    transactions of other databases on the same server (someone else's work shares the
    machine: the numbers are only comparable when that is near zero)."""
    seconds = after["at"] - before["at"]
    cores = os.cpu_count() or 1
    share = (after["busy"] - before["busy"]) / max(1, after["total"] - before["total"])
    others = {
        name: n - before["xacts"].get(name, 0)
        for name, n in after["xacts"].items()
        if name != DB_NAME and n - before["xacts"].get(name, 0) > 0
    }
    return {
        "cores_busy_machine": round(share * cores, 2),
        "cores_busy_load_generator": round(
            (after["client_cpu"] - before["client_cpu"]) / seconds, 2
        ),
        "loadavg_before": [round(v, 2) for v in before["loadavg"]],
        "loadavg_after": [round(v, 2) for v in after["loadavg"]],
        "transactions_in_load_db": after["xacts"].get(DB_NAME, 0) - before["xacts"].get(DB_NAME, 0),
        "transactions_in_other_dbs": others,
    }


# --- results ---------------------------------------------------------------------------


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list, in ms."""
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000


def latency_summary(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 50), 1),
        "p95_ms": round(percentile(ordered, 95), 1),
        "p99_ms": round(percentile(ordered, 99), 1),
        "max_ms": round(ordered[-1] * 1000, 1) if ordered else None,
    }


def endpoint_summary(stats: Stats, endpoint: str, seconds: float) -> dict[str, Any]:
    latency = latency_summary(stats.latencies.get(endpoint, []))
    statuses = stats.statuses.get(endpoint, Counter())
    failures = stats.transport.get(endpoint, Counter())
    return {
        "requests": sum(statuses.values()) + sum(failures.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "connection_failures": dict(failures),
        "retries": stats.retries[endpoint],
        "errors": stats.errors[endpoint],
        **{k: v for k, v in latency.items() if k != "n"},
        # Sign-ins happen before the load phase: no rate for them.
        "per_second": round(latency["n"] / seconds, 2) if endpoint != TOKEN else None,
    }


def database_facts(url: str, sent: set[uuid.UUID]) -> dict[str, Any]:
    """What gridwatch_load holds of the sent reports, and the audit chain's verdict."""
    with psycopg.connect(url) as conn:
        stored, counted = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE counted) FROM reports WHERE id = ANY(%s)",
            (list(sent),),
        ).fetchone() or (0, 0)
        total = conn.execute("SELECT count(*) FROM reports").fetchone()
        deadlocks = conn.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = %s", (DB_NAME,)
        ).fetchone()
        versions = conn.execute("SELECT version(), postgis_lib_version()").fetchone()
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            verdict = audit_verify.verify(session, full=True)
    finally:
        engine.dispose()
    return {
        "stored": stored,
        "counted": counted,
        "reports_in_database": total[0] if total else None,
        "deadlocks": deadlocks[0] if deadlocks else None,
        "postgresql": versions[0] if versions else None,
        "postgis": versions[1] if versions else None,
        "audit_chain": {"ok": verdict.ok, "entries": verdict.entries, "problem": verdict.problem},
    }


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout


def code_state() -> dict[str, Any]:
    """The commit the server is started from and any uncommitted change to it (taken before
    the server imports the code: the tree may change while the test runs)."""
    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line]
    diff = git("diff", "HEAD").encode()
    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "uncommitted": changed,
        "uncommitted_diff_sha256": hashlib.sha256(diff).hexdigest() if diff else None,
    }


def server_log_problems(log_path: Path) -> dict[str, Any]:
    """Tracebacks and error lines the server wrote (warning level and up only)."""
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    bad = [ln for ln in lines if "Traceback" in ln or "ERROR" in ln or "Exception" in ln]
    return {"path": str(log_path), "lines": len(lines), "error_lines": len(bad), "first": bad[:10]}


def build_result(
    args: argparse.Namespace,
    world: World,
    stats: Stats,
    seconds: float,
    db: dict[str, Any],
    log: dict[str, Any],
    host: dict[str, Any],
    code: dict[str, Any],
) -> dict[str, Any]:
    errors = sum(stats.errors.values())
    reports = {
        "sent": len(stats.sent),
        "acknowledged": len(stats.acknowledged),
        "stored": db["stored"],
        "stored_equals_sent": db["stored"] == len(stats.sent),
        "counted": db["counted"],
        "acknowledged_not_counted_by_flags": dict(stats.not_counted),
        "deliberate_resends": stats.resends,
        "batch_items_resent_after_409": stats.item_retries,
        "reports_in_database": db["reports_in_database"],
        "seeded_before_load": world.seeded_reports,
    }
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.load " + " ".join(sys.argv[1:]),
        "git": code,
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "postgresql": db["postgresql"],
            "postgis": db["postgis"],
            "uvicorn": version("uvicorn"),
            "httpx": version("httpx"),
        },
        "config": {
            "seconds": args.seconds,
            "phones": args.phones,
            "supervisors": args.supervisors,
            "supervisor_logins": [u for u, _ in world.supervisors],
            "workers": args.workers,
            "think_s": args.think,
            "batch_share": args.batch_share,
            "resend_share": args.resend_share,
            "timeout_s": args.timeout,
            "attempts": args.attempts,
            "seed": args.seed,
            "demo_unit_cells": world.unit_cells,
        },
        "load_phase_s": round(seconds, 1),
        "endpoints": {e: endpoint_summary(stats, e, seconds) for e in ENDPOINTS},
        "errors": {
            "count": errors,
            "by_endpoint": dict(stats.errors),
            "samples": stats.error_samples,
        },
        "throttled_logins": stats.throttled_logins,
        "reports": reports,
        "tiles_by_zoom": {str(z): latency_summary(v) for z, v in sorted(stats.tile_zooms.items())},
        "database": {k: db[k] for k in ("deadlocks", "audit_chain")},
        "host": host,
        "server_log": log,
        "ok": errors == 0 and reports["stored_equals_sent"],
    }


def print_table(result: dict[str, Any]) -> None:
    head = (
        f"{'endpoint':34} {'requests':>9} {'errors':>6} {'retries':>7} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    )
    print(head)
    print("-" * len(head))
    for name, e in result["endpoints"].items():
        print(
            f"{name:34} {e['requests']:>9,} {e['errors']:>6} {e['retries']:>7} "
            f"{e['p50_ms']:>8} {e['p95_ms']:>8} {e['p99_ms']:>8}"
        )
    r = result["reports"]
    print(
        f"\nload phase {result['load_phase_s']} s; errors {result['errors']['count']}; "
        f"reports sent {r['sent']:,}, stored {r['stored']:,} "
        f"({'stored == sent' if r['stored_equals_sent'] else 'stored != sent'}), "
        f"counted {r['counted']:,}; audit chain "
        f"{'ok' if result['database']['audit_chain']['ok'] else 'BROKEN'}"
    )
    zooms = ", ".join(
        f"z{z} {t['p50_ms']:g}/{t['p95_ms']:g}" for z, t in result["tiles_by_zoom"].items()
    )
    print(f"tiles p50/p95 ms by zoom: {zooms}")
    h = result["host"]
    print(
        f"cores busy: {h['cores_busy_machine']} machine-wide, "
        f"{h['cores_busy_load_generator']} by the load generator; "
        f"transactions in other databases meanwhile: {h['transactions_in_other_dbs'] or 'none'}"
    )


def write_result(result: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-load.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = load_url(ensure_database())
    print(f"preparing {DB_NAME}: migrations, demo city, {args.phones} phone accounts", flush=True)
    recreate_database(url)
    world = prepare_world(url, args.phones, args.supervisors)
    log_path = Path(tempfile.gettempdir()) / "gridwatch-load-server.log"
    stats = Stats()
    env = server_env(url, len(world.phones) + len(world.supervisors))
    code = code_state()
    with running_server(env, args.workers, log_path) as base:
        print(
            f"serving on {base} ({args.workers} workers); load for {args.seconds:g} s", flush=True
        )
        seconds, host = asyncio.run(drive(base, url, world, args, stats))
    db = database_facts(url, stats.sent)
    log = server_log_problems(log_path)
    result = build_result(args, world, stats, seconds, db, log, host, code)
    print_table(result)
    print(f"\nwrote {write_result(result).relative_to(ROOT)}; server log {log_path}")
    if not result["ok"] or not db["audit_chain"]["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
