"""The notifier's digest of cells at risk (issue 21): each grid leader is told once per window
which of their cells fall due within GRIDWATCH_AT_RISK_HOURS."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.config import WebhookTarget, get_settings
from app.db import make_sessionmaker
from app.domain.grid.cells import get_cell
from app.domain.notify import messages
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


def test_windows_start_at_local_midnight_and_whole_multiples_after_it() -> None:
    zone = ZoneInfo(get_settings().timezone)
    now = datetime(2026, 3, 2, 13, 40, tzinfo=zone)
    start = risk_notices.window_start(now, 6)
    assert start.astimezone(zone) == datetime(2026, 3, 2, 12, 0, tzinfo=zone)
    early = risk_notices.window_start(datetime(2026, 3, 2, 0, 30, tzinfo=zone), 6)
    assert early.astimezone(zone) == datetime(2026, 3, 2, 0, 0, tzinfo=zone)


def test_a_long_message_fits_a_robot_in_bytes_and_dingtalk_mentions_the_leader() -> None:
    payload = {
        "kind": "cells_at_risk",
        "title": "网格即将超期未巡",
        "lines": [(f"网格{i}", "还剩 1.0 小时" * 10) for i in range(200)],
        "link": "/desk",
        "data": {"mention_mobiles": ["13900000001"]},
    }
    text = messages.markdown(payload)
    assert len(text.encode()) <= messages.MAX_BYTES and text.endswith("…")
    ding = WebhookTarget(url="http://127.0.0.1:9/robot", format="dingtalk")
    body = json.loads(messages.body(ding, 1, "k", payload | {"occurred_at": "x"}))
    assert body["at"] == {"atMobiles": ["13900000001"], "isAtAll": False}
    short = messages.markdown(payload | {"lines": []})
    assert short.endswith("@13900000001")
