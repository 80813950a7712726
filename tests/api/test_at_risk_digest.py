"""The notifier's digest of cells at risk (issue 21): each grid leader is told once per window
which of their cells fall due within GRIDWATCH_AT_RISK_HOURS."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.config import WebhookTarget, get_settings
from app.db import make_sessionmaker
from app.domain.grid.cells import get_cell
from app.domain.notify.worker import run_once
from app.domain.supervision import risk_notices
from app.main import NOTICE_SCANNERS
from app.models import Notification
from tests.factories import UNITS, report_body, staffed_field
from tests.webhook_receiver import Receiver


def test_each_leader_gets_one_digest_of_their_cells_at_risk_per_window(
    client: TestClient,
    db: Session,
    engine,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    time_machine: time_machine.TimeMachineFixture,
) -> None:
    start = clock.now()
    time_machine.move_to(start, tick=False)
    field = staffed_field(client, db)
    filed = client.post(
        "/api/v1/reports", json=report_body(UNITS[0]), headers=field.headers("insp")
    )
    assert filed.status_code == 201 and filed.json()["counted"], filed.text
    interval = get_cell(db, UNITS[0]).patrol_interval_hours
    sessions = make_sessionmaker(engine)
    receiver = Receiver().start()
    try:
        monkeypatch.setattr(
            get_settings(),
            "notify_webhooks",
            [WebhookTarget(url=f"http://127.0.0.1:{receiver.port}/hook", name="office")],
        )
        # Two hours before the cell lapses it is at risk (within the default six hours); the
        # leader's other cell, never patrolled, has lapsed already and is no risk but a gap.
        time_machine.move_to(start + timedelta(hours=interval - 2), tick=False)
        first = run_once(sessions, NOTICE_SCANNERS)
        assert (first.raised, first.delivery.delivered) == (1, 1)
        assert run_once(sessions, NOTICE_SCANNERS).raised == 0  # once per window
        with sessions() as s:
            keys = s.scalars(select(Notification.dedupe_key)).all()
        assert len(keys) == 1 and keys[0].startswith("cells_at_risk:boss:")

        sent = receiver.received[0].json()
        assert sent["event"] == "cells_at_risk"
        assert [c["code"] for c in sent["data"]["cells"]] == [UNITS[0]]
        assert "boss" in sent["text"] and UNITS[0] in sent["text"]
        assert "还剩 2.0 小时" in sent["text"]
    finally:
        receiver.stop()


def test_windows_start_at_whole_multiples_of_the_at_risk_hours() -> None:
    now = clock.now().replace(hour=13, minute=40, second=0, microsecond=0)
    start = risk_notices.window_start(now, 6)
    assert start <= now < start + timedelta(hours=6)
    assert start.hour % 6 == 0 and (start.minute, start.second) == (0, 0)
