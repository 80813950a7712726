"""Ingest throughput (issue 9): `python -m bench.ingest --database-url URL`.

Against an existing, migrated gridwatch database that holds a grid (e.g. one made by
`python -m bench.generate --name ingestdev --cells 5000 --reports 100000`), it measures:

- single ingest: `clients` concurrent phones, each an inspector on duty in its own unit cell,
  post reports with fresh client UUIDs to `POST /api/v1/reports` for `seconds` seconds over
  keep-alive connections (uvicorn with `workers` processes in a subprocess);
- batch sync: `batches` offline batches of 500 reports to `POST /api/v1/reports/batch`, a few
  at a time;
- the raw-PostgreSQL ceiling: `clients` threads, each on its own psycopg connection with
  prepared statements, each report one transaction with the cell lookup and a one-row insert
  into a scratch table shaped like `reports` (dropped afterwards).

Then it checks that every report answered 2xx is stored exactly once, with one audit entry
each, and that counted ones are in the patrol history. The inspector accounts
(`bench-ingest-NNN`, each with a duty on its cell) are made on the first run and reused after,
because the reports they filed keep referring to them. Reports stay; the scratch table goes.

The phones sit 1 m apart at most from their last report (a random point that close to the
cell's centre) so that every report takes the full counted path — cell, duty, previous-visit
speed check, history, summary — instead of being voided as impossible_speed.

The load generator shares the machine's cores with the server and PostgreSQL; its CPU use is
reported. It speaks HTTP/1.1 over keep-alive connections itself (`Phone`): httpx spends about
1.3 ms of CPU per request here, as much again as a cheap request costs the server, which on
two cores would measure the client rather than the server (`--httpx` uses httpx instead).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import queue
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from app.db import make_engine, make_sessionmaker
from app.domain import audit
from app.domain.accountability import verify as audit_verify
from app.domain.people.accounts import create_or_update_user
from app.domain.people.scope import duty_active_at
from app.models import Duty
from bench.load import (
    Stats,
    code_state,
    latency_summary,
    running_server,
    server_env,
    sign_in_all,
    spread,
)
from bench.timing import summary

RESULTS = Path(__file__).parent / "results"
LOCAL = ZoneInfo("Asia/Shanghai")  # phones send device time with their offset
BATCH_SIZE = 500
BATCH_CLIENTS = 4
JITTER_DEG = 0.00001  # ~1 m: consecutive reports stay far below the impossible speed
USERNAME = "bench-ingest-{:03d}"
PASSWORD = "bench-ingest-password-{:03d}"


@dataclass(frozen=True)
class Inspector:
    username: str
    password: str
    cell_code: str
    lon: float
    lat: float

    def point(self, rng: random.Random) -> tuple[float, float]:
        return (
            self.lon + rng.uniform(-JITTER_DEG, JITTER_DEG),
            self.lat + rng.uniform(-JITTER_DEG, JITTER_DEG),
        )


def plain_url(url: str) -> str:
    return make_url(url.replace("postgresql+psycopg://", "postgresql://")).render_as_string(
        hide_password=False
    )


# --- setup ---------------------------------------------------------------------------------

_UNIT_CELLS = text("""
    SELECT c.id, c.code, ST_X(p.pt) AS lon, ST_Y(p.pt) AS lat
      FROM cells c CROSS JOIN LATERAL (SELECT ST_PointOnSurface(c.geom) AS pt) p
     WHERE c.is_leaf AND c.valid_to IS NULL
     ORDER BY c.code
""")


def prepare_inspectors(url: str, n: int) -> list[Inspector]:
    """n inspector accounts, each on duty (since yesterday) in its own unit cell, spread over
    the grid. Existing accounts and duties from an earlier run are reused."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            audit.act_as(session, audit.Actor("bench:ingest"))
            cells = list(session.execute(_UNIT_CELLS).all())
            if n > len(cells):
                raise SystemExit(f"{n} inspectors need {n} unit cells; the grid has {len(cells)}")
            now = datetime.now(UTC)
            made = []
            for i, cell in enumerate(spread(cells, n), 1):
                person, _ = create_or_update_user(
                    session,
                    username=USERNAME.format(i),
                    role="inspector",
                    password=PASSWORD.format(i),
                    name=f"入库测试{i}",
                )
                on_duty = session.scalar(
                    select(Duty.id).where(
                        Duty.person_id == person.id, Duty.cell_id == cell.id, duty_active_at(now)
                    )
                )
                if on_duty is None:
                    session.add(
                        Duty(
                            cell_id=cell.id,
                            person_id=person.id,
                            duty="member",
                            valid_from=now - timedelta(days=1),
                        )
                    )
                made.append(
                    Inspector(
                        USERNAME.format(i),
                        PASSWORD.format(i),
                        cell.code,
                        float(cell.lon),
                        float(cell.lat),
                    )
                )
    finally:
        engine.dispose()
    return made


def report_body(inspector: Inspector, rng: random.Random, observed: datetime) -> dict[str, Any]:
    lon, lat = inspector.point(rng)
    return {
        "id": str(uuid.uuid4()),
        "lat": lat,
        "lon": lon,
        "accuracy_m": round(rng.uniform(3, 30), 1),
        "observed_at": observed.isoformat(timespec="milliseconds"),
        "kind": "patrol",
        "description": "入库测试 巡查",
    }


# --- the load generator's HTTP ---------------------------------------------------------------


class Phone:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads JSON answers (with a
    Content-Length or chunked), reconnecting when the server closes it. Just enough HTTP for
    this server's API, at a tenth of httpx's CPU per request."""

    def __init__(self, base: str, token: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        data = json.dumps(body).encode()
        try:
            writer.write(
                f"POST {path} HTTP/1.1\r\n{self.head}Content-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await writer.drain()
            status, headers = await self._head(reader)
            answer = await self._body(reader, headers)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise
        if headers.get("connection") == "close":
            await self.close()
        return status, json.loads(answer) if answer else None

    @staticmethod
    async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip().lower()
        return int(lines[0].split()[1]), headers

    @staticmethod
    async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding") == "chunked":
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")
            return b"".join(chunks)
        return await reader.readexactly(int(headers.get("content-length", "0")))

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


class HttpxPhone:
    """The same, through httpx (to compare what the load generator costs)."""

    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=300
        )

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        r = await self.client.post(path, json=body)
        return r.status_code, r.json() if r.content else None

    async def close(self) -> None:
        await self.client.aclose()


# --- what the clients record -----------------------------------------------------------------


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    acknowledged: list[uuid.UUID] = field(default_factory=list)
    not_counted: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    errors: int = 0  # any answer but 200/201, or no answer
    seconds: float = 0.0
    client_cpu_s: float = 0.0

    def error(self, kind: str, detail: str) -> None:
        self.statuses[kind] += 1
        self.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{kind}: {detail[:300]}")

    def stored(self, report: dict[str, Any]) -> None:
        self.acknowledged.append(uuid.UUID(report["id"]))
        if not report["counted"]:
            self.not_counted[",".join(report["flags"]) or "no cell"] += 1


def rate_summary(phase: Phase, reports: int) -> dict[str, Any]:
    return {
        "requests": len(phase.latencies)
        + sum(n for k, n in phase.statuses.items() if not k.isdigit()),
        "reports": reports,
        "seconds": round(phase.seconds, 2),
        "reports_per_s": round(reports / phase.seconds, 1) if phase.seconds else None,
        **latency_summary(phase.latencies),
        "statuses": dict(phase.statuses),
        "errors": phase.errors,
        "error_samples": phase.error_samples,
        "not_counted": dict(phase.not_counted),
        "load_generator_cores": round(phase.client_cpu_s / phase.seconds, 2)
        if phase.seconds
        else None,
    }


# --- single ingest ---------------------------------------------------------------------------


async def single_client(
    phone: Phone | HttpxPhone, inspector: Inspector, phase: Phase, end: float, seed: int
) -> None:
    rng = random.Random(seed)
    try:
        while time.monotonic() < end:
            body = report_body(inspector, rng, datetime.now(LOCAL))
            started = time.perf_counter()
            try:
                status, answer = await phone.post("/api/v1/reports", body)
            except (OSError, asyncio.IncompleteReadError, httpx.TransportError) as exc:
                phase.error(type(exc).__name__, str(exc))
                continue
            phase.latencies.append(time.perf_counter() - started)
            if status in (200, 201):
                phase.statuses[str(status)] += 1
                phase.stored(answer)
            else:
                phase.error(str(status), json.dumps(answer))
    finally:
        await phone.close()


async def single_ingest(
    phones: list[Phone | HttpxPhone], inspectors: list[Inspector], seconds: float
) -> Phase:
    phase = Phase()
    cpu, started = time.process_time(), time.monotonic()
    end = started + seconds
    await asyncio.gather(
        *(
            single_client(phone, inspector, phase, end, i)
            for i, (phone, inspector) in enumerate(zip(phones, inspectors, strict=True))
        )
    )
    phase.seconds = time.monotonic() - started
    phase.client_cpu_s = time.process_time() - cpu
    return phase


# --- batch sync ------------------------------------------------------------------------------


def batch_items(inspector: Inspector, rng: random.Random, start: datetime) -> list[dict[str, Any]]:
    """An offline batch: 500 patrols a second apart, observed from `start` on."""
    return [report_body(inspector, rng, start + timedelta(seconds=k)) for k in range(BATCH_SIZE)]


async def batch_client(
    phone: Phone | HttpxPhone, bodies: list[list[dict[str, Any]]], phase: Phase
) -> None:
    try:
        for items in bodies:
            started = time.perf_counter()
            try:
                status, answer = await phone.post("/api/v1/reports/batch", items)
            except (OSError, asyncio.IncompleteReadError, httpx.TransportError) as exc:
                phase.error(type(exc).__name__, str(exc))
                continue
            phase.latencies.append(time.perf_counter() - started)
            if status != 200:
                phase.error(str(status), json.dumps(answer))
                continue
            for result in answer["results"]:
                if result["status"] in (200, 201):
                    phase.statuses[str(result["status"])] += 1
                    phase.stored(result["report"])
                else:
                    phase.error(str(result["status"]), json.dumps(result))
    finally:
        await phone.close()


async def batch_sync(
    phones: list[Phone | HttpxPhone], inspectors: list[Inspector], batches: int
) -> Phase:
    """`batches` batches over BATCH_CLIENTS concurrent clients, each its own inspector; the
    items lie in the last day, in order, a second apart (a phone back from a dead zone)."""
    clients = min(BATCH_CLIENTS, batches, len(inspectors))
    rng = random.Random(9)
    first = datetime.now(LOCAL) - timedelta(hours=23)
    bodies: list[list[list[dict[str, Any]]]] = [[] for _ in range(clients)]
    for b in range(batches):
        c = b % clients
        start = first + timedelta(seconds=BATCH_SIZE * len(bodies[c]))
        bodies[c].append(batch_items(inspectors[c], rng, start))
    phase = Phase()
    cpu, started = time.process_time(), time.monotonic()
    await asyncio.gather(*(batch_client(phones[c], bodies[c], phase) for c in range(clients)))
    phase.seconds = time.monotonic() - started
    phase.client_cpu_s = time.process_time() - cpu
    return phase


# --- the raw-PostgreSQL ceiling --------------------------------------------------------------

RAW_LOOKUP = (
    "SELECT id FROM cells WHERE is_leaf AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), "
    "4326)) LIMIT 1"
)
RAW_INSERT = (
    "INSERT INTO bench_raw_reports (id, cell_id, geom, observed_at, received_at) "
    "VALUES (%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, now())"
)


def create_raw_table(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_reports")
        conn.execute(
            """CREATE TABLE bench_raw_reports (
                  id uuid PRIMARY KEY,
                  cell_id bigint,
                  geom geometry(Point, 4326),
                  observed_at timestamptz,
                  received_at timestamptz)"""
        )
        conn.execute("CREATE INDEX ON bench_raw_reports (cell_id, observed_at)")
        conn.execute("CREATE INDEX ON bench_raw_reports USING gist (geom)")


def drop_raw_table(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_reports")


def raw_worker(
    url: str, inspector: Inspector, end: float, seed: int, out: queue.Queue[Phase]
) -> None:
    """One connection filing one-row reports for the ceiling; its latencies and errors."""
    rng, phase = random.Random(seed), Phase()
    try:
        with psycopg.connect(url, options="-c jit=off") as conn:
            while time.monotonic() < end:
                lon, lat = inspector.point(rng)
                started = time.perf_counter()
                try:
                    with conn.transaction():
                        row = conn.execute(RAW_LOOKUP, (lon, lat), prepare=True).fetchone()
                        conn.execute(
                            RAW_INSERT,
                            (uuid.uuid4(), row[0] if row else None, lon, lat, datetime.now(UTC)),
                            prepare=True,
                        )
                except psycopg.Error as exc:
                    phase.error(type(exc).__name__, str(exc))
                    continue
                phase.latencies.append(time.perf_counter() - started)
    except psycopg.Error as exc:
        phase.error(type(exc).__name__, str(exc))
    finally:
        out.put(phase)


def raw_ceiling(url: str, inspectors: list[Inspector], seconds: float) -> Phase:
    create_raw_table(url)
    try:
        out: queue.Queue[Phase] = queue.Queue()
        cpu, started = time.process_time(), time.monotonic()
        end = started + seconds
        threads = [
            threading.Thread(target=raw_worker, args=(url, inspector, end, i, out))
            for i, inspector in enumerate(inspectors)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        phase = Phase(seconds=time.monotonic() - started, client_cpu_s=time.process_time() - cpu)
        while not out.empty():
            worker = out.get()
            phase.latencies += worker.latencies
            phase.errors += worker.errors
            phase.statuses.update(worker.statuses)
            phase.error_samples += worker.error_samples[: 10 - len(phase.error_samples)]
    finally:
        drop_raw_table(url)
    return phase


# --- checks afterwards -----------------------------------------------------------------------


def verify_stored(url: str, acknowledged: list[uuid.UUID]) -> dict[str, Any]:
    """Every acknowledged report stored once, with one report.create audit entry; the counted
    ones in the patrol history once; the audit chain intact."""
    ids = list(acknowledged)
    texts = [str(i) for i in ids]
    with psycopg.connect(url) as conn:
        stored, counted = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE counted) FROM reports WHERE id = ANY(%s)",
            (ids,),
        ).fetchone() or (0, 0)
        visits = conn.execute(
            "SELECT count(*), count(DISTINCT report_id) FROM cell_visits WHERE report_id = ANY(%s)",
            (ids,),
        ).fetchone() or (0, 0)
        entries = conn.execute(
            "SELECT count(*), count(DISTINCT target_id) FROM audit_log "
            "WHERE target_type = 'report' AND action = 'report.create' AND target_id = ANY(%s)",
            (texts,),
        ).fetchone() or (0, 0)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            verdict = audit_verify.verify(session, full=True)
    finally:
        engine.dispose()
    return {
        "acknowledged": len(ids),
        "distinct_acknowledged": len(set(ids)),
        "stored": stored,
        "counted": counted,
        "visit_rows": visits[0],
        "audit_entries": entries[0],
        "ok": stored == len(set(ids)) == len(ids)
        and visits[0] == visits[1] == counted
        and entries[0] == entries[1] == stored
        and verdict.ok,
        "audit_chain_ok": verdict.ok,
        "audit_chain_entries": verdict.entries,
    }


# --- the whole run ---------------------------------------------------------------------------


async def serve_and_drive(
    base: str, inspectors: list[Inspector], seconds: float, batches: int, use_httpx: bool
) -> tuple[Phase, Phase]:
    tokens = await sign_in_all(base, Stats(), 5, [(i.username, i.password) for i in inspectors])
    kind = HttpxPhone if use_httpx else Phone
    single = await single_ingest([kind(base, t) for t in tokens], inspectors, seconds)
    batch = await batch_sync([kind(base, t) for t in tokens], inspectors, batches)
    return single, batch


def _installed(module: str) -> str:
    return f" ({module} {'installed' if importlib.util.find_spec(module) else 'absent'})"


def ingest_benchmarks(
    database_url: str,
    seconds: float = 20,
    clients: int = 32,
    batches: int = 20,
    workers: int = 2,
    use_httpx: bool = False,
) -> dict[str, Any]:
    """Single ingest, batch sync and the raw ceiling against an existing gridwatch database;
    the summaries, the ratio single/raw, and whether every acknowledged report is stored once.
    """
    url = plain_url(database_url)
    code, load_before = code_state(), os.getloadavg()
    inspectors = prepare_inspectors(url, clients)
    log_path = Path(tempfile.gettempdir()) / f"gridwatch-ingest-server-{os.getpid()}.log"
    with running_server(server_env(url, len(inspectors)), workers, log_path) as base:
        single, batch = asyncio.run(serve_and_drive(base, inspectors, seconds, batches, use_httpx))
    raw = raw_ceiling(url, inspectors, seconds)
    check = verify_stored(url, single.acknowledged + batch.acknowledged)
    batch_requests = summary("POST /api/v1/reports/batch", batch.latencies, per=BATCH_SIZE)
    single_rate = len(single.acknowledged) / single.seconds
    raw_rate = len(raw.latencies) / raw.seconds
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": make_url(url).database,
        "config": {
            "seconds": seconds,
            "clients": clients,
            "batches": batches,
            "batch_size": BATCH_SIZE,
            "batch_clients": min(BATCH_CLIENTS, batches, clients),
            "workers": workers,
            "cores": os.cpu_count(),
            "client": "httpx" if use_httpx else "bench.ingest.Phone",
            # What uvicorn runs on: its --http/--loop (UVICORN_HTTP, UVICORN_LOOP; "auto" takes
            # httptools and uvloop when installed).
            "http": os.environ.get("UVICORN_HTTP", "auto") + _installed("httptools"),
            "loop": os.environ.get("UVICORN_LOOP", "auto") + _installed("uvloop"),
        },
        "single": rate_summary(single, len(single.acknowledged)),
        "batch": rate_summary(batch, len(batch.acknowledged)) | {"per_request": batch_requests},
        "raw": rate_summary(raw, len(raw.latencies)),
        "single_vs_raw": round(single_rate / raw_rate, 3) if raw_rate else None,
        "stored_once": check,
        "machine": {
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        },
        "git": code,
        "server_log": str(log_path),
    }


def print_table(result: dict[str, Any]) -> None:
    head = (
        f"{'phase':28} {'reports':>9} {'per s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'errors':>6} {'gen cores':>9}"
    )
    print(head)
    print("-" * len(head))
    c = result["config"]
    names = {
        "single": f"single, {c['clients']} clients",
        "batch": f"batch {c['batch_size']}, {c['batch_clients']} clients",
        "raw": f"raw psycopg, {c['clients']} threads",
    }
    for key, label in names.items():
        s = result[key]
        print(
            f"{label:28} {s['reports']:>9,} {s['reports_per_s']:>9,} {s['p50_ms']:>8} "
            f"{s['p95_ms']:>8} {s['p99_ms']:>8} {s['errors']:>6} {s['load_generator_cores']:>9}"
        )
    v = result["stored_once"]
    print(
        f"\nsingle / raw = {result['single_vs_raw']}; acknowledged {v['acknowledged']:,}, "
        f"stored {v['stored']:,}, counted {v['counted']:,}, audit entries "
        f"{v['audit_entries']:,}, chain {'ok' if v['audit_chain_ok'] else 'BROKEN'} "
        f"→ {'ok' if v['ok'] else 'MISMATCH'}"
    )
    for key in ("single", "batch"):
        if result[key]["not_counted"]:
            print(f"{key}: not counted by flags {result[key]['not_counted']}")
        for sample in result[key]["error_samples"]:
            print(f"{key}: {sample}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    p.add_argument("--database-url", required=True, help="a migrated gridwatch database")
    p.add_argument("--seconds", type=float, default=20, help="length of the single/raw phases")
    p.add_argument("--clients", type=int, default=32, help="concurrent single-report clients")
    p.add_argument("--batches", type=int, default=20, help="batches of 500 reports")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--httpx", action="store_true", help="drive the server through httpx")
    p.add_argument("--write", action="store_true", help="write bench/results/<date>-ingest.json")
    args = p.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.batches < 1 or args.workers < 1:
        p.error("need --clients >= 1, --seconds > 0, --batches >= 1, --workers >= 1")
    result = ingest_benchmarks(
        args.database_url, args.seconds, args.clients, args.batches, args.workers, args.httpx
    )
    print_table(result)
    if args.write:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-ingest.json"
        path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
