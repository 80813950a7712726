"""The audit chain's commit path alone: `python -m bench.auditchain --database-url URL`.

`clients` threads, each with its own session, commit transactions that write nothing but one
`report.create`-shaped audit entry (and, with --rollup, mark one unit cell's parent for the
commit-time roll-up recomputation, as a counted report does) for `seconds` seconds. Every
commit takes the chain's head, so this measures how long the head is held per commit — with
none of the HTTP, intake and sign-in work that `bench.ingest` shares the machine's cores with.
The entries stay (they are chained like any other); the chain is verified afterwards.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid

from sqlalchemy import text

from app.db import make_engine, make_sessionmaker
from app.domain import audit
from app.domain.accountability import verify as audit_verify
from bench.timing import summary

_LEAVES = text("SELECT id FROM cells WHERE is_leaf AND valid_to IS NULL ORDER BY id LIMIT :n")
_TOUCH = text("SELECT gridwatch_rollup_touch(ARRAY[CAST(:cell AS bigint)])")


def run(url: str, *, clients: int, seconds: float, rollup: bool) -> dict[str, object]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        cells = list(session.scalars(_LEAVES, {"n": clients}))
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = time.monotonic() + seconds
    barrier = threading.Barrier(clients)

    def client(k: int) -> None:
        cell = cells[k % len(cells)]
        barrier.wait()
        while time.monotonic() < stop:
            started = time.perf_counter()
            with sessions() as session:
                if rollup:
                    session.execute(_TOUCH, {"cell": cell})
                audit.record(
                    session,
                    "report.create",
                    "report",
                    uuid.uuid4(),
                    cell_id=cell,
                    after={"bench": "auditchain", "client": k},
                )
                session.commit()
            latencies[k].append(time.perf_counter() - started)

    cpu, wall = os.times(), time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, after = time.monotonic() - wall, os.times()
    samples = [s for per in latencies for s in per]
    with sessions() as session:
        verdict = audit_verify.verify(session)
    engine.dispose()
    row = summary(f"audit commits, {clients} clients", samples)
    row["per_second"] = round(len(samples) / wall, 1)
    row["client_cpu_s"] = round(after.user + after.system - cpu.user - cpu.system, 2)
    row["chain_ok"] = verdict.ok
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", required=True, help="a migrated gridwatch database")
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--rollup", action="store_true", help="also mark a parent for the roll-up")
    args = p.parse_args()
    print(run(args.database_url, clients=args.clients, seconds=args.seconds, rollup=args.rollup))


if __name__ == "__main__":
    main()
