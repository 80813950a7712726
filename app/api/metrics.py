"""GET /metrics: Prometheus text format, for operators only.

Who may read it: a request with `Authorization: Bearer <GRIDWATCH_METRICS_TOKEN>` (for the
scraper), or a signed-in admin (bearer token or session cookie). A signed-in person of another
role gets 403; anyone else 404, as if there were no such page.

Two kinds of numbers:
- counted by the server processes (request latency by route template, reports ingested): with
  one process, in its memory; with `gridwatch serve --workers N` (several processes on one
  port) prometheus_client's multiprocess mode, in files under PROMETHEUS_MULTIPROC_DIR, which
  `serve` sets up before the workers start, so that every worker's scrape answers for all of
  them. Separate hosts or containers are separate scrape targets (Prometheus adds them up).
- read from PostgreSQL at each scrape (the same whichever process answers): the notifier's
  outbox depth, the streaming standbys' replay lag as the primary sees it, and the sessions
  waiting on a cell-summary lock (app/sql/fn_lock_cells.sql) at that moment. With the
  database down the scraper still gets the processes' numbers, and gridwatch_database_up 0."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.api.deps import session_cookie, viewer_for
from app.config import get_settings
from app.db import SessionDep
from app.security import read_access_token

router = APIRouter(tags=["operations"])

REQUEST_SECONDS = Histogram(
    "gridwatch_http_request_duration_seconds",
    "Time to answer a request, by route template (not the raw path), method and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REPORTS_INGESTED = Counter(
    "gridwatch_reports_ingested",
    "Reports received through the API: accepted (stored, no flag), flagged (stored with "
    "flags, SPEC §4) or resent (an identical re-send, stored before).",
    ["outcome"],
)

# The cell summaries' advisory locks: app/sql/fn_lock_cells.sql (7301 per cell, 7302 for all).
SUMMARY_LOCK_CLASSES = (7301, 7302)
# Only the configured targets' queues: a removed target's leftovers wait for nothing.
_OUTBOX = text(
    "SELECT count(*) FROM notification_deliveries "
    "WHERE delivered_at IS NULL AND target = ANY(:targets)"
)
_STANDBYS = text(
    "SELECT application_name, COALESCE(EXTRACT(epoch FROM replay_lag), 0)::float8 "
    "FROM pg_stat_replication"
)
_LOCK_WAITS = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
    "AND classid::bigint = ANY(:classes)"
)


def count_ingested(reports: Any) -> None:
    """Count filed reports (intake's `Filed` outcomes) once their transaction committed."""
    for filed in reports:
        if not filed.created:
            REPORTS_INGESTED.labels("resent").inc()
        elif getattr(filed.report, "flags", None):
            REPORTS_INGESTED.labels("flagged").inc()
        else:
            REPORTS_INGESTED.labels("accepted").inc()


class _FromDatabase(Collector):
    def __init__(self, session: Session) -> None:
        self.session = session

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "gridwatch_database_up", "1 when the primary answered this scrape's queries."
        )
        try:
            families = list(self._from_database())
        except SQLAlchemyError:  # the processes' own numbers are still worth a scrape
            self.session.rollback()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _from_database(self) -> Iterator[GaugeMetricFamily]:
        outbox = GaugeMetricFamily(
            "gridwatch_notify_outbox_depth",
            "Notifier deliveries not yet delivered to the configured targets.",
        )
        targets = [target.key for target in get_settings().notify_webhooks]
        outbox.add_metric([], self.session.scalar(_OUTBOX, {"targets": targets}) or 0)
        yield outbox
        standbys = self.session.execute(_STANDBYS).all()
        count = GaugeMetricFamily(
            "gridwatch_replicas",
            "Streaming standbys connected to the primary (0: none configured; the lag below "
            "is then absent).",
        )
        count.add_metric([], len(standbys))
        yield count
        lag = GaugeMetricFamily(
            "gridwatch_replica_lag_seconds",
            "Replay lag of each streaming standby, as the primary sees it (pg_stat_replication; "
            "the app role needs pg_monitor to read it).",
            labels=["standby"],
        )
        for name, seconds in standbys:
            lag.add_metric([name or "unnamed"], seconds)
        yield lag
        waits = GaugeMetricFamily(
            "gridwatch_summary_lock_waiters",
            "Sessions waiting, at the scrape, for a cell-summary lock (fn_lock_cells).",
        )
        waits.add_metric(
            [], self.session.scalar(_LOCK_WAITS, {"classes": list(SUMMARY_LOCK_CLASSES)}) or 0
        )
        yield waits


def _allowed(request: Request, session: Session) -> bool:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    wanted = get_settings().metrics_token
    if token and wanted is not None:
        if hmac.compare_digest(token.encode(), wanted.get_secret_value().encode()):
            return True
    user_token = token or session_cookie(request)
    viewer = viewer_for(session, read_access_token(user_token)) if user_token else None
    if viewer is None:
        raise HTTPException(404, detail="Not Found")
    if viewer.role != "admin":
        raise HTTPException(403, detail="/metrics is for operators: the admin role")
    return True


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, session: SessionDep) -> Response:
    _allowed(request, session)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    from_database = CollectorRegistry(auto_describe=False)
    from_database.register(_FromDatabase(session))
    body = generate_latest(counted) + generate_latest(from_database)
    session.rollback()
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
