"""Engine and session factory. Nothing connects at import time: the app's lifespan and the
CLI create the engine; request handlers get a Session through `SessionDep`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import get_settings


def plain_database_url() -> str:
    """The configured postgresql:// URL, or the embedded cluster's."""
    url = get_settings().database_url
    if url:
        return url
    from app import localdb

    return localdb.cluster().url()


def sqlalchemy_url(url: str) -> str:
    """gridwatch picks its own driver: psycopg 3."""
    for prefix in (
        "postgresql+psycopg2://",
        "postgresql+psycopg://",
        "postgres://",
        "postgresql://",
    ):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(
        f"GRIDWATCH_DATABASE_URL must be a postgresql:// URL, got {url.split(':')[0]}://…"
    )


def make_engine(url: str | None = None) -> Engine:
    return create_engine(
        sqlalchemy_url(url or plain_database_url()),
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        # plan_cache_mode: psycopg prepares a statement after 5 runs, and PostgreSQL may then
        # switch to a generic plan; for our queries with optional filters (`:x IS NULL OR …`)
        # a generic plan scans whole tables (a province's lapses took 4x longer). Planning
        # each run with its values costs a millisecond or two.
        connect_args={
            "options": "-c jit=off -c timezone=UTC -c plan_cache_mode=force_custom_plan",
            "connect_timeout": 5,
        },
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A Session for the request. Making one does no I/O, so this runs on the event loop and
    costs no trip through the thread pool; closing it does (a ROLLBACK and a return to the
    pool) only while it still holds a transaction, and only then runs in the thread pool."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]
