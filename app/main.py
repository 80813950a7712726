"""create_app(): the FastAPI application. The engine is made in the lifespan and kept on
app.state; nothing connects at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from app.api import (
    account_pages,
    audit,
    auth,
    cells,
    desk,
    docs,
    dossiers,
    due,
    errors,
    exports,
    gaps,
    grid,
    health,
    hotspots,
    imports,
    metrics,
    open311,
    pages,
    photos,
    reports,
    sources,
    stats,
    tiles,
    users,
)
from app.api.headers import SecurityHeaders
from app.api.limits import BodyLimit
from app.api.observe import Observe
from app.api.proxies import TrustedProxies
from app.config import get_settings
from app.db import ReadOnPrimaryAfterReplicaFailure, make_engine, make_sessionmaker, read_replicas
from app.domain.accountability.exportfile import FORMATS
from app.domain.hotspots import notices
from app.domain.notify.worker import Worker
from app.domain.status import keep_rules_in_step
from app.domain.supervision import risk_notices
from app.secret import signing_key

log = logging.getLogger("gridwatch")

# What the notifier's worker scans for each round: events that time makes due.
NOTICE_SCANNERS = (notices.scan, risk_notices.scan)
# Answers that are compressed files already (the default list has ZIP and images).
ALREADY_COMPRESSED = (FORMATS["xlsx"][0], "application/pdf")


def _rules_in_step(sessionmaker: sessionmaker[Session]) -> None:
    """The rule values the database's functions read are this server's settings (app/rules.py);
    a database that does not answer yet is checked at the next `gridwatch migrate` instead
    (its /healthz says 503 meanwhile)."""
    try:
        with sessionmaker() as session, session.begin():
            if keep_rules_in_step(session):
                log.warning("rule values changed with the settings: summaries rebuilt")
    except OperationalError as exc:
        log.warning("rule values not checked, the database does not answer: %s", exc.orig)


def create_app(database_url: str | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The signing secret, generated on a first start (read afresh: a new process would).
        signing_key(reload=True)
        engine = make_engine(database_url)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        # Read replicas (GRIDWATCH_READ_DATABASE_URL) for the read-only routes; None: none.
        app.state.read_replicas = replicas = read_replicas()
        await run_in_threadpool(_rules_in_step, app.state.sessionmaker)
        # The notifier's worker, when webhooks are configured (README: Notifications).
        settings = get_settings()
        notifier = None
        if settings.notify_webhooks and settings.notify_worker:
            notifier = Worker(app.state.sessionmaker, NOTICE_SCANNERS)
            notifier.start()
        yield
        if notifier is not None:
            await run_in_threadpool(notifier.stop)
        engine.dispose()
        if replicas is not None:
            replicas.dispose()

    app = FastAPI(
        title="gridwatch",
        summary="Grid supervision for pollution control (网格化监管)",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by app/api/docs.py from local assets
        redoc_url=None,
    )
    # Innermost: a read-only route whose replica failed before it answered runs again on the
    # primary (app/db.py), unseen by every other part.
    app.add_middleware(ReadOnPrimaryAfterReplicaFailure)
    # Then: bodies are measured before any route, dependency or sign-in work runs.
    app.add_middleware(BodyLimit)
    # Added early, so it sits inside GZip and sees pages uncompressed (to hash their scripts).
    app.add_middleware(SecurityHeaders)
    # Level 5: large JSON answers (a province's gaps) compress ~3x faster than at 9, ~5 % larger.
    # Files that are compressed already (XLSX and ZIP are deflated, PDF streams are) pass as
    # they are: gzip would cost the server CPU and save no bytes.
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1000,
        compresslevel=5,
        exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, *ALREADY_COMPRESSED),
    )
    # Outermost: every other part sees the client's address and scheme as the proxy gave them.
    app.add_middleware(TrustedProxies)
    # Around everything: the request id, the access log line and the latency (app/api/observe.py);
    # it sees the connection's own peer, to believe X-Request-ID from a trusted proxy only.
    app.add_middleware(Observe)
    errors.install(app)
    open311.install(app)
    docs.install(app)
    for module in (
        health,
        metrics,
        auth,
        cells,
        grid,
        reports,
        photos,
        hotspots,
        desk,
        sources,
        gaps,
        due,
        stats,
        exports,
        dossiers,
        audit,
        tiles,
        users,
        imports,
        open311,
        pages,
        account_pages,
    ):
        app.include_router(module.router)
    app.include_router(imports.pages)
    return app
