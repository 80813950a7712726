"""Engine and session factory. Nothing connects at import time: the app's lifespan and the
CLI create the engine; request handlers get a Session through `SessionDep`."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import get_settings

log = logging.getLogger("gridwatch")


def json_param(value: Any) -> str:
    """A statement's JSON parameter (rows for json_to_recordset): orjson, several times faster
    than json.dumps on the large ones; json.dumps for what orjson refuses (integers beyond 64
    bits). Not for canonical JSON (app/domain/audit.py keeps its own)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def plain_database_url() -> str:
    """The configured postgresql:// URL, or the embedded cluster's."""
    url = get_settings().database_url
    if url:
        return url
    from app import localdb

    return localdb.cluster().url()


def direct_database_url(url: str) -> str:
    """The server itself for tools that need a session (pg_dump, pg_restore): url, or
    GRIDWATCH_DIRECT_DATABASE_URL when it goes through a pooler."""
    settings = get_settings()
    if settings.direct_database_url:
        return settings.direct_database_url
    if settings.database_pooler:
        raise ValueError(
            "GRIDWATCH_DATABASE_POOLER is set: give the database server itself in "
            "GRIDWATCH_DIRECT_DATABASE_URL (pg_dump and pg_restore must not go through a "
            "transaction pooler)"
        )
    return url


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


PRIMARY_APPLICATION_NAME = "gridwatch"
READ_APPLICATION_NAME = "gridwatch-read"  # seen in a replica's pg_stat_activity


def make_engine(
    url: str | None = None,
    *,
    application_name: str = PRIMARY_APPLICATION_NAME,
    connect_timeout: int = 5,
) -> Engine:
    connect_args: dict[str, Any] = {
        "connect_timeout": connect_timeout,
        "application_name": application_name,
    }
    pooled = get_settings().database_pooler
    if pooled:
        # A transaction-mode pooler (PgBouncer) hands each transaction any server connection:
        # a statement prepared on one is unknown on the next, and it refuses the `options`
        # startup parameter; the settings are made per transaction instead (_local_settings).
        connect_args["prepare_threshold"] = None
    else:
        connect_args["options"] = " ".join(f"-c {k}={v}" for k, v in SESSION_SETTINGS.items())
    engine = create_engine(
        sqlalchemy_url(url or plain_database_url()),
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args=connect_args,
    )
    if pooled:
        event.listen(engine, "begin", _local_settings)
    return engine


# Every connection's settings: on a session's start, or through a pooler per transaction.
# plan_cache_mode: psycopg prepares a statement after 5 runs, and PostgreSQL may then
# switch to a generic plan; for our queries with optional filters (`:x IS NULL OR …`)
# a generic plan scans whole tables (a province's lapses took 4x longer). Planning
# each run with its values costs a millisecond or two.
SESSION_SETTINGS = {"jit": "off", "timezone": "UTC", "plan_cache_mode": "force_custom_plan"}
_SET_LOCAL = "SELECT " + ", ".join(
    f"set_config('{k}', '{v}', true)" for k, v in SESSION_SETTINGS.items()
)


def _local_settings(conn: Connection) -> None:
    """SESSION_SETTINGS for this transaction only (one statement, at its start)."""
    with conn.connection.dbapi_connection.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(_SET_LOCAL)


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


# A replica's lag: 0 when it has replayed all the WAL it received (a quiet primary sends no
# new commits, so the last replayed commit's age says nothing), else the age of the last
# replayed commit. A server that is not a standby has none.
_LAG = text(
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 "
    "WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), "
    "'Infinity') END::float8"
)
# How often a replica's lag is measured (per process), and how long a replica that did not
# answer is passed over before it is tried again.
LAG_CHECK_SECONDS = 1.0
DOWN_RETRY_SECONDS = 5.0


@dataclass
class Replica:
    name: str  # host:port/database, no credentials
    engine: Engine
    sessionmaker: sessionmaker[Session]
    lag: float | None = None
    error: str | None = None
    checked_at: float = -1e9
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self) -> None:
        try:
            with self.engine.connect() as conn:
                lag = float(conn.execute(_LAG).scalar_one())
        except SQLAlchemyError as exc:
            self.down(exc)
            return
        if self.error is not None:
            log.warning("read replica %s answers again", self.name)
        self.lag, self.error, self.checked_at = lag, None, time.monotonic()

    def down(self, exc: BaseException) -> None:
        if self.error is None:
            log.warning(
                "read replica %s does not answer, reading on the primary: %s",
                self.name,
                getattr(exc, "orig", None) or exc,
            )
        self.lag, self.error, self.checked_at = None, type(exc).__name__, time.monotonic()

    def state(self, max_lag: float) -> str:
        if self.error is not None or self.lag is None:
            return "down"
        return "ok" if self.lag <= max_lag else "lagging"


class ReadReplicas:
    """The read replicas of GRIDWATCH_READ_DATABASE_URL, taken in turn. One is used while it
    answers and its lag, measured at most every LAG_CHECK_SECONDS, is within max_lag; one
    that did not answer is tried again after DOWN_RETRY_SECONDS."""

    def __init__(self, urls: list[str], max_lag: float) -> None:
        self.max_lag = max_lag
        self.replicas = []
        for url in urls:
            u = make_url(sqlalchemy_url(url))
            engine = make_engine(url, application_name=READ_APPLICATION_NAME, connect_timeout=2)
            event.listen(engine, "handle_error", _mark_replica_failure)
            name = f"{u.host}:{u.port or 5432}/{u.database}"
            self.replicas.append(Replica(name, engine, make_sessionmaker(engine)))
        self._turn = 0

    def _fresh(self, replica: Replica) -> None:
        wait = DOWN_RETRY_SECONDS if replica.error else LAG_CHECK_SECONDS
        if time.monotonic() - replica.checked_at < wait:
            return
        # One request measures; the others meanwhile go by the last measurement.
        if replica.lock.acquire(blocking=False):
            try:
                replica.check()
            finally:
                replica.lock.release()

    def pick(self) -> Replica | None:
        """A usable replica, or None: read from the primary."""
        n = len(self.replicas)
        self._turn = (self._turn + 1) % max(n, 1)
        for i in range(n):
            replica = self.replicas[(self._turn + i) % n]
            self._fresh(replica)
            if replica.state(self.max_lag) == "ok":
                return replica
        return None

    def status(self) -> list[dict[str, Any]]:
        """Each replica's state (for /healthz, which anyone may ask: numbered in the order of
        GRIDWATCH_READ_DATABASE_URL, not named) as the routing sees it: measured again only
        when its last measurement is as old as `pick` allows, so a replica that does not
        answer costs /healthz one connection attempt per DOWN_RETRY_SECONDS, not one a call."""
        out = []
        for number, replica in enumerate(self.replicas, start=1):
            self._fresh(replica)
            out.append(
                {
                    "replica": number,
                    "state": replica.state(self.max_lag),
                    "lag_seconds": None if replica.lag is None else round(replica.lag, 3),
                    "max_lag_seconds": self.max_lag,
                }
            )
        return out

    def dispose(self) -> None:
        for replica in self.replicas:
            replica.engine.dispose()


def read_replicas() -> ReadReplicas | None:
    settings = get_settings()
    urls = settings.read_database_urls
    return ReadReplicas(urls, settings.read_max_lag_seconds) if urls else None


# A replica's error that the primary may not have: it stopped or was shut down (57P01), the
# query was cancelled (57014) or lost a recovery conflict (40001), the connection broke.
REPLICA_FAILED = "gridwatch_replica_failed"


def _mark_replica_failure(context: ExceptionContext) -> None:
    error = context.sqlalchemy_exception
    if error is not None and (isinstance(error, OperationalError) or context.is_disconnect):
        setattr(error, REPLICA_FAILED, True)


class ReplicaFailed(Exception):
    """A read replica failed during a read-only route, which then runs again on the primary
    (ReadOnPrimaryAfterReplicaFailure)."""


READ_ON_PRIMARY = "gridwatch.read_on_primary"  # the scope key of a run after such a failure


def get_read_session(request: Request, primary: SessionDep) -> Iterator[Session]:
    """A Session for a read-only route: on a read replica when one is usable, else the
    request's primary Session (the same one the sign-in check used). A replica that fails to
    give a connection is marked down and the primary answers instead; one that fails during
    the route's queries is marked down too, and the route runs again on the primary
    (ReadOnPrimaryAfterReplicaFailure): never an error.
    Writes (an export's audit entry) go through SessionDep, never through this Session."""
    replicas: ReadReplicas | None = getattr(request.app.state, "read_replicas", None)
    replica = None
    if replicas is not None and not request.scope.get(READ_ON_PRIMARY):
        replica = replicas.pick()
    if replica is None:
        yield primary
        return
    session = replica.sessionmaker()
    try:
        session.connection()
    except SQLAlchemyError as exc:
        session.close()
        replica.down(exc)
        yield primary
        return
    try:
        yield session
    except SQLAlchemyError as exc:
        if not getattr(exc, REPLICA_FAILED, False):
            raise
        replica.down(exc)
        raise ReplicaFailed(replica.name) from exc
    finally:
        session.close()


ReadSessionDep = Annotated[Session, Depends(get_read_session)]


class ReadOnPrimaryAfterReplicaFailure:
    """ASGI middleware: a route whose replica failed (ReplicaFailed) before its answer started
    runs once more, reading on the primary. Files are built whole before their first byte
    (exports, dossiers), so they are retried too. Once an answer has started it cannot be
    taken back: the replica's error is raised as it was (read-only routes are GETs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except ReplicaFailed as failed:
            if started or scope["method"] not in ("GET", "HEAD"):  # no body to read again
                raise (failed.__cause__ or failed) from None
            log.warning(
                "read replica %s failed during %s %s, read again on the primary: %s",
                failed,
                scope["method"],
                scope["path"],
                getattr(failed.__cause__, "orig", None) or failed.__cause__,
            )
            await self.app({**scope, READ_ON_PRIMARY: True}, receive, send)
