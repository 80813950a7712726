"""One round of the notifier (raise what the scanners find due, then deliver), and the loop
that repeats it: in a thread of the server (started by app.main when targets are
configured) or in `gridwatch notify`. Several processes may run it at once: raising is
idempotent and each target's queue is worked by one of them at a time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy.orm import Session, sessionmaker

from app.config import get_settings
from app.domain.notify.delivery import DeliveryRun, deliver_due

log = logging.getLogger("gridwatch.notify")

# A scanner raises the events that time has made due (idempotent by their dedupe keys) in
# the session's transaction and says how many it raised.
Scanner = Callable[[Session], int]


@dataclass
class Round:
    raised: int
    delivery: DeliveryRun


def run_once(sessions: sessionmaker[Session], scanners: Sequence[Scanner]) -> Round:
    settings = get_settings()
    raised = 0
    for scan in scanners:
        with sessions() as session, session.begin():
            raised += scan(session)
    with httpx.Client(timeout=settings.notify_timeout_seconds, follow_redirects=False) as client:
        delivery = deliver_due(sessions, client=client, targets=settings.notify_webhooks)
    return Round(raised, delivery)


class Worker:
    """run_once every notify_interval_seconds in a daemon thread until stopped. A round that
    fails (the database away) is logged and the next one tries again."""

    def __init__(self, sessions: sessionmaker[Session], scanners: Sequence[Scanner]) -> None:
        self.sessions, self.scanners = sessions, list(scanners)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gridwatch-notify", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._thread.join(
            timeout if timeout is not None else get_settings().notify_timeout_seconds + 5
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                result = run_once(self.sessions, self.scanners)
                if result.delivery.failed:
                    log.warning(
                        "notifier: %d delivered, %d failed (%s)",
                        result.delivery.delivered,
                        result.delivery.failed,
                        "; ".join(f"{k}: {v}" for k, v in result.delivery.errors.items()),
                    )
            except Exception:
                log.exception("notifier round failed; trying again")
            self._stop.wait(get_settings().notify_interval_seconds)
