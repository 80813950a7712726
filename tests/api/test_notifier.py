"""The notifier (issue 17): every dispatch, due-soon and overdue event reaches every webhook
once, signed, in order — including events raised while the receiver was down — and an
unreachable receiver never blocks or slows a step."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import unquote_plus

import pytest
import time_machine
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app import clock
from app.config import WebhookTarget, get_settings
from app.db import make_sessionmaker
from app.domain.hotspots import notices
from app.domain.notify import delivery, messages
from app.domain.notify.worker import run_once
from app.main import create_app
from app.models import Notification, NotificationDelivery
from tests.factories import Field, hotspot_body, staffed_field
from tests.webhook_receiver import Receiver, hanging_port

JSON_SECRET = "json-receiver-secret"
DING_SECRET = "SECdingtalk-robot-secret"
SCANNERS = (notices.scan,)


def targets(port: int) -> list[WebhookTarget]:
    base = f"http://127.0.0.1:{port}"
    return [
        WebhookTarget(url=f"{base}/hook", secret=SecretStr(JSON_SECRET), name="office"),
        WebhookTarget(url=f"{base}/robot/wecom?key=wecom-key", format="wecom"),
        WebhookTarget(
            url=f"{base}/robot/dingtalk?access_token=t0k", format="dingtalk", secret=DING_SECRET
        ),
    ]


@pytest.fixture
def field(client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch) -> Field:
    settings = get_settings()
    monkeypatch.setattr(settings, "notify_timeout_seconds", 0.3)
    monkeypatch.setattr(settings, "notify_retry_base_seconds", 60.0)
    monkeypatch.setattr(settings, "notify_retry_max_seconds", 600.0)
    return staffed_field(client, db)


@pytest.fixture
def sessions(engine) -> sessionmaker[Session]:  # type: ignore[no-untyped-def]
    return make_sessionmaker(engine)


def dispatched_case(field: Field, deadline: datetime) -> str:
    headers = field.headers("sup")
    r = field.client.post("/api/v1/hotspots", json=hotspot_body(), headers=headers)
    assert r.status_code == 201, r.text
    case = r.json()["id"]
    for body in (
        {"to": "accepted"},
        {"to": "dispatched", "assignee": "insp", "deadline": deadline.isoformat()},
    ):
        step = field.client.post(f"/api/v1/hotspots/{case}/transitions", json=body, headers=headers)
        assert step.status_code == 200, step.text
    return case


def verify_json_signature(received) -> None:  # type: ignore[no-untyped-def]
    timestamp = received.headers["x-gridwatch-timestamp"]
    expected = hmac.new(
        JSON_SECRET.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256
    ).hexdigest()
    assert received.headers["x-gridwatch-signature"] == f"sha256={expected}"


def verify_dingtalk_signature(received) -> None:  # type: ignore[no-untyped-def]
    timestamp, sign = received.query["timestamp"], received.query["sign"]
    digest = hmac.new(
        DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256
    ).digest()
    assert base64.b64decode(unquote_plus(sign) if "%" in sign else sign) == digest
    assert received.query["access_token"] == "t0k"


def test_every_event_arrives_once_signed_in_order_after_an_outage(
    field: Field,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    time_machine: time_machine.TimeMachineFixture,
) -> None:
    start = clock.now()
    time_machine.move_to(start, tick=True)
    down = hanging_port()  # the receiver's port answers nothing: it is down
    port = down.getsockname()[1]
    monkeypatch.setattr(get_settings(), "notify_webhooks", targets(port))

    # A dispatch while the receiver is down: the step is taken at once.
    began = time.monotonic()
    case = dispatched_case(field, deadline=start + timedelta(hours=30))
    assert time.monotonic() - began < 2.0
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(NotificationDelivery)) == 3

    # The worker tries while the receiver is down: nothing is lost, each queue backs off.
    first = run_once(sessions, SCANNERS)
    assert (first.raised, first.delivery.delivered, first.delivery.failed) == (0, 0, 3)
    # Seven hours on, the deadline is within 24 h: due soon; a day later it is overdue.
    time_machine.move_to(start + timedelta(hours=7), tick=True)
    assert run_once(sessions, SCANNERS).raised == 1
    time_machine.move_to(start + timedelta(hours=31), tick=True)
    late = run_once(sessions, SCANNERS)
    # Only each queue's head is tried: nothing overtakes the event that waits.
    assert (late.raised, late.delivery.delivered, late.delivery.failed) == (1, 0, 3)
    with sessions() as s, s.begin():
        assert notices.scan(s) == 0  # a re-scan raises nothing new
        kinds = s.scalars(select(Notification.kind).order_by(Notification.id)).all()
        assert kinds == ["dispatched", "due_soon", "overdue"]
        errors = s.scalars(select(NotificationDelivery.last_error).distinct()).all()
        assert all(e is None or "Timeout" in e for e in errors) and any(errors)
        assert not any("wecom-key" in (e or "") for e in errors)

    # The receiver is back on the same port: after the back-off every event arrives once.
    down.close()
    receiver = Receiver(port).start()
    try:
        # The heads wait out their back-off; the events behind them are not sent before them.
        assert run_once(sessions, SCANNERS).delivery.delivered == 0
        assert receiver.received == []
        time_machine.move_to(start + timedelta(hours=32), tick=True)
        back = run_once(sessions, SCANNERS)
        assert (back.raised, back.delivery.delivered, back.delivery.failed) == (0, 9, 0)
        assert run_once(sessions, SCANNERS).delivery.delivered == 0  # nothing twice
    finally:
        receiver.stop()

    office = receiver.at("/hook")
    assert [r.json()["event"] for r in office] == ["dispatched", "due_soon", "overdue"]
    assert len({r.json()["id"] for r in office}) == 3
    for r in office:
        verify_json_signature(r)
        body = r.json()
        assert body["data"]["case_id"] == case and body["data"]["assignee"] == "insp"
        assert body["link"] == f"/desk?case={case}"
        assert r.headers["x-gridwatch-event"] == body["event"]
    assert "案件已派遣" in office[0].json()["title"] and "扬尘" in office[0].json()["title"]

    wecom = receiver.at("/robot/wecom")
    assert len(wecom) == 3 and all(r.query == {"key": "wecom-key"} for r in wecom)
    for r in wecom:
        body = r.json()
        assert body["msgtype"] == "markdown" and set(body["markdown"]) == {"content"}
    text = wecom[0].json()["markdown"]["content"]
    for words in ("案件已派遣", case[:8], case, "扬尘", "西北（410702001001001）", "insp名"):
        assert words in text
    deadline_local = (start + timedelta(hours=30)).astimezone(messages_tz())
    assert f"{deadline_local:%Y-%m-%d %H:%M}（北京时间）" in text
    assert "/desk?case=" + case in text

    ding = receiver.at("/robot/dingtalk")
    assert len(ding) == 3
    for r in ding:
        verify_dingtalk_signature(r)
        body = r.json()
        assert body["msgtype"] == "markdown" and set(body["markdown"]) == {"title", "text"}
    assert [r.json()["markdown"]["title"].split("：")[0] for r in ding] == [
        "案件已派遣",
        "案件即将到期",
        "案件已超期",
    ]


def messages_tz():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(get_settings().timezone)


def test_an_extended_deadline_raises_its_own_reminders_once(
    field: Field,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    time_machine: time_machine.TimeMachineFixture,
) -> None:
    start = clock.now()
    time_machine.move_to(start, tick=True)
    monkeypatch.setattr(get_settings(), "notify_webhooks", targets(hanging_port_closed()))
    case = dispatched_case(field, deadline=start + timedelta(hours=10))
    with sessions() as s, s.begin():
        assert notices.scan(s) == 1  # due soon
        assert notices.scan(s) == 0
    r = field.client.post(
        f"/api/v1/hotspots/{case}/transitions",
        json={"to": "extend", "deadline": (start + timedelta(hours=20)).isoformat()},
        headers=field.headers("sup"),
    )
    assert r.status_code == 200, r.text
    with sessions() as s, s.begin():
        assert notices.scan(s) == 1  # due soon, for the new deadline
        keys = s.scalars(select(Notification.dedupe_key).order_by(Notification.id)).all()
    assert [k.split(":")[0] for k in keys] == ["dispatched", "due_soon", "due_soon"]
    assert keys[1] != keys[2]


def hanging_port_closed() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    sock = hanging_port()
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_without_targets_nothing_is_written(field: Field, sessions: sessionmaker[Session]) -> None:
    dispatched_case(field, deadline=clock.now() + timedelta(hours=3))
    with sessions() as s, s.begin():
        assert notices.scan(s) == 0
        assert s.scalar(select(func.count()).select_from(Notification)) == 0


def test_public_url_makes_links_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "public_url", "https://gw.example.gov.cn/")
    payload = {
        "kind": "overdue",
        "occurred_at": "2026-01-01T00:00:00+00:00",
        "title": "案件已超期：扬尘 · 西北",
        "lines": [["案件编号", "abc"]],
        "link": "/desk?case=abc",
        "data": {},
    }
    target = WebhookTarget(url="http://127.0.0.1:9/robot", format="wecom")
    text = messages.markdown(payload)
    assert (
        "[https://gw.example.gov.cn/desk?case=abc](https://gw.example.gov.cn/desk?case=abc)" in text
    )
    assert b"gw.example.gov.cn/desk" in messages.body(target, 1, "k", payload)


@pytest.fixture
def served_with_targets(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Receiver]]:
    receiver = Receiver().start()
    settings = get_settings()
    monkeypatch.setattr(settings, "notify_webhooks", targets(receiver.port)[:1])
    monkeypatch.setattr(settings, "notify_interval_seconds", 0.2)
    try:
        with TestClient(create_app(database_url)) as c:
            yield c, receiver
    finally:
        receiver.stop()


def test_the_server_runs_the_worker_when_targets_are_configured(
    served_with_targets: tuple[TestClient, Receiver], db: Session
) -> None:
    client, receiver = served_with_targets
    field = staffed_field(client, db)
    case = dispatched_case(field, deadline=clock.now() + timedelta(hours=40))
    deadline = time.monotonic() + 10
    while not receiver.at("/hook") and time.monotonic() < deadline:
        time.sleep(0.1)
    [arrived] = receiver.at("/hook")
    verify_json_signature(arrived)
    assert arrived.json()["data"]["case_id"] == case


def test_gridwatch_notify_once_delivers_and_says_what_waits(
    field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cli.helpers import run_cli

    receiver = Receiver().start()
    try:
        monkeypatch.setattr(get_settings(), "notify_webhooks", targets(receiver.port))
        dispatched_case(field, deadline=clock.now() + timedelta(hours=40))
        result = run_cli("notify", "--once")
        assert result.exit_code == 0, result.output
        assert "3 delivered, 0 failed" in result.output and "nothing waiting" in result.output
        assert len(receiver.received) == 3
        secrets = run_cli("notify", "--secrets")
        assert secrets.output.strip() == f"office: {JSON_SECRET}"
    finally:
        receiver.stop()


def test_a_refused_dispatch_raises_no_event(field: Field, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "notify_webhooks", targets(hanging_port_closed()))
    headers = field.headers("sup")
    case = field.client.post("/api/v1/hotspots", json=hotspot_body(), headers=headers).json()["id"]
    field.client.post(
        f"/api/v1/hotspots/{case}/transitions", json={"to": "accepted"}, headers=headers
    )
    deadline = (clock.now() + timedelta(hours=5)).isoformat()
    r = field.client.post(
        f"/api/v1/hotspots/{case}/transitions",
        json={"to": "dispatched", "assignee": "other", "deadline": deadline},  # not on duty there
        headers=headers,
    )
    assert 400 <= r.status_code < 500
    assert field.db.scalar(select(func.count()).select_from(Notification)) == 0


def test_workers_running_at_once_deliver_each_event_once_and_in_order(
    field: Field, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver(delay=0.05).start()  # slow enough for the workers to overlap
    try:
        monkeypatch.setattr(get_settings(), "notify_webhooks", targets(receiver.port))
        cases = [dispatched_case(field, clock.now() + timedelta(hours=40)) for _ in range(6)]
        rounds = []
        threads = [
            threading.Thread(target=lambda: rounds.append(run_once(sessions, SCANNERS)))
            for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sum(r.delivery.delivered for r in rounds) == 18
    finally:
        receiver.stop()
    for path in ("/hook", "/robot/wecom", "/robot/dingtalk"):
        assert len(receiver.at(path)) == 6
    assert [r.json()["data"]["case_id"] for r in receiver.at("/hook")] == cases


def test_text_from_people_does_not_become_markup_in_the_group() -> None:
    payload = {
        "title": "案件已派遣：扬尘 · 西北",
        "lines": [["问题描述", "看 [这里](http://phish.example)\n### 假标题 <font>x</font>"]],
        "link": "/desk?case=abc",
    }
    text = messages.markdown(payload)
    assert "](" not in text.split("**查看**")[0] and "<font>" not in text
    assert text.count("\n###") == 0 and text.startswith("### 案件已派遣")


def test_no_transaction_holds_the_outbox_while_a_webhook_is_posted(
    field: Field, sessions: sessionmaker[Session], engine, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[int, int]] = []

    def look() -> None:  # while the worker posts: may another connection take every row?
        with engine.connect() as conn:
            locked = conn.execute(
                text("SELECT id FROM notification_deliveries FOR UPDATE NOWAIT")
            ).all()
            in_transaction = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                )
            )
            seen.append((len(locked), in_transaction))
            conn.rollback()

    receiver = Receiver(on_post=look).start()
    try:
        monkeypatch.setattr(get_settings(), "notify_webhooks", targets(receiver.port)[:1])
        for _ in range(2):
            dispatched_case(field, clock.now() + timedelta(hours=40))
        field.db.commit()  # (the test's own session holds no transaction either)
        assert run_once(sessions, SCANNERS).delivery.delivered == 2
    finally:
        receiver.stop()
    assert seen == [(2, 0), (2, 0)]
    with sessions() as s:
        assert (
            s.scalar(select(func.count()).where(NotificationDelivery.delivered_at.is_not(None)))
            == 2
        )


def test_a_head_claimed_by_a_worker_that_died_is_sent_after_its_lease(
    field: Field,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    time_machine: time_machine.TimeMachineFixture,
) -> None:
    start = clock.now()
    time_machine.move_to(start, tick=True)
    receiver = Receiver().start()
    try:
        [office] = targets(receiver.port)[:1]
        monkeypatch.setattr(get_settings(), "notify_webhooks", [office])
        dispatched_case(field, clock.now() + timedelta(hours=40))
        assert delivery._claim_head(sessions, office) is not None  # claimed, then the worker died
        assert run_once(sessions, SCANNERS).delivery.delivered == 0  # its lease holds the head
        assert receiver.received == []
        time_machine.move_to(start + delivery.lease() + timedelta(seconds=1), tick=True)
        assert run_once(sessions, SCANNERS).delivery.delivered == 1
    finally:
        receiver.stop()
    assert len(receiver.at("/hook")) == 1


def test_a_removed_target_waits_for_nothing_and_its_leftovers_can_be_dropped(
    field: Field, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cli.helpers import run_cli

    settings = get_settings()
    down = hanging_port_closed()
    office, wecom, ding = targets(down)
    monkeypatch.setattr(settings, "notify_webhooks", [office, wecom, ding])
    dispatched_case(field, clock.now() + timedelta(hours=40))
    receiver = Receiver().start()
    try:
        # The robots are removed; the office's group moves to a new address under its name,
        # and a new group is added: it hears the events raised from now on, not earlier ones.
        office = office.model_copy(update={"url": f"http://127.0.0.1:{receiver.port}/hook"})
        newcomer = WebhookTarget(url=f"http://127.0.0.1:{receiver.port}/new", name="new")
        monkeypatch.setattr(settings, "notify_webhooks", [office, newcomer])
        result = run_cli("notify", "--once")
        assert result.exit_code == 0, result.output
        assert "1 delivered, 0 failed; nothing waiting" in result.output
        assert f"undelivered: {ding.key} 1, {wecom.key} 1" in result.output
        assert [r.path for r in receiver.received] == ["/hook"]
        with sessions() as s:
            assert delivery.pending(s, ["office", "new"]) == {}
        metrics_token = "t" * 32
        monkeypatch.setattr(settings, "metrics_token", SecretStr(metrics_token))
        scraped = field.client.get(
            "/metrics", headers={"Authorization": f"Bearer {metrics_token}"}
        ).text
        assert "gridwatch_notify_outbox_depth 0.0" in scraped

        dropped = run_cli("notify", "--drop-unconfigured")
        assert dropped.exit_code == 0, dropped.output
        assert f"dropped {ding.key} 1, {wecom.key} 1" in dropped.output
        again = run_cli("notify", "--once")
        assert "not configured" not in again.output
    finally:
        receiver.stop()
    with sessions() as s:
        left = s.execute(
            select(NotificationDelivery.target, NotificationDelivery.delivered_at.is_not(None))
        ).all()
        assert [tuple(r) for r in left] == [("office", True)]
        assert s.scalar(select(func.count()).select_from(Notification)) == 1
