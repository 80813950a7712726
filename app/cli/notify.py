"""`notify`: the notifier's worker for operators and cron (the server runs the same loop in a
thread unless GRIDWATCH_NOTIFY_WORKER=false)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from app.cli.common import app, ensure_database, fail, out
from app.config import get_settings
from app.db import make_engine, make_sessionmaker
from app.domain.notify import delivery, messages
from app.domain.notify.worker import run_once
from app.main import NOTICE_SCANNERS


@app.command()
def notify(
    once: Annotated[bool, typer.Option(help="one round, then exit (for cron)")] = False,
    secrets: Annotated[
        bool, typer.Option(help="print each json target's signing key and exit")
    ] = False,
    drop_unconfigured: Annotated[
        bool,
        typer.Option(help="discard the undelivered events of targets no longer configured"),
    ] = False,
) -> None:
    """Raise due-soon and overdue events and deliver waiting notifications to the webhooks of
    GRIDWATCH_NOTIFY_WEBHOOKS, every GRIDWATCH_NOTIFY_INTERVAL_SECONDS (or --once)."""
    settings = get_settings()
    if not settings.notify_webhooks:
        fail("no webhook targets: set GRIDWATCH_NOTIFY_WEBHOOKS (a JSON list, see README)")
    if secrets:
        for target in settings.notify_webhooks:
            if target.format == "json":
                out.print(f"{target.key}: {messages.json_secret(target)}", highlight=False)
        return
    keys = [target.key for target in settings.notify_webhooks]
    engine = make_engine(ensure_database())
    sessions = make_sessionmaker(engine)
    try:
        if drop_unconfigured:
            with sessions() as session, session.begin():
                dropped = delivery.drop_unconfigured(session, keys)
            listed = ", ".join(f"{target} {count}" for target, count in dropped.items())
            out.print(f"notify: dropped {listed or 'nothing'}", highlight=False)
            return
        while True:
            result = run_once(sessions, NOTICE_SCANNERS)
            with sessions() as session:
                waiting = delivery.pending(session, keys)
                left = delivery.unconfigured(session, keys)
            queues = ", ".join(
                f"{target} {count} waiting" + (f" (last error: {error})" if error else "")
                for target, (count, error) in waiting.items()
            )
            out.print(
                f"notify: {result.raised} events raised, {result.delivery.delivered} "
                f"delivered, {result.delivery.failed} failed; {queues or 'nothing waiting'}",
                highlight=False,
            )
            if left:
                out.print(
                    "notify: not configured any more, undelivered: "
                    + ", ".join(f"{target} {count}" for target, count in left.items())
                    + " (configure the target again to send them, or --drop-unconfigured)",
                    highlight=False,
                )
            if once:
                break
            time.sleep(settings.notify_interval_seconds)
    finally:
        engine.dispose()
