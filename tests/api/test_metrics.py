"""/metrics (Prometheus text) for operators only, the request id, and the JSON log lines."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import orjson
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.config import WebhookTarget, get_settings
from app.logs import JsonFormatter, RequestIdFilter
from app.main import create_app
from tests.factories import SINCE, UNITS, bearer, give_duty, make_user, report_body, two_by_two

TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FastAPI]:
    monkeypatch.setattr(get_settings(), "metrics_token", SecretStr(TOKEN))
    application = create_app(database_url)
    with TestClient(application):
        yield application


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_for_operators_only(client: TestClient, db: Session) -> None:
    make_user(db, "insp", "inspector")
    make_user(db, "root", "admin")
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", headers=bearer(db, "insp")).status_code == 403
    r = client.get("/metrics", headers=bearer(db, "root"))
    assert r.status_code == 200 and "gridwatch_notify_outbox_depth" in r.text
    assert "/metrics" not in client.get("/openapi.json").text  # not in the public API


def test_metrics_without_a_token_configured_answer_admins_only(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "metrics_token", None)
    make_user(db, "root", "admin")
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    assert client.get("/metrics", headers=bearer(db, "root")).status_code == 200


def test_latency_by_route_template_and_ingest_counts(client: TestClient, db: Session) -> None:
    two_by_two(db)
    insp = make_user(db, "insp", "inspector")
    give_duty(db, insp, UNITS[0], "member", valid_from=SINCE)
    headers = bearer(db, "insp")
    before = scrape(client)
    good, vague = report_body(UNITS[0]), report_body(UNITS[0], accuracy_m=5000)
    assert client.post("/api/v1/reports", json=good, headers=headers).status_code == 201
    assert client.post("/api/v1/reports", json=good, headers=headers).status_code == 200
    flagged = client.post("/api/v1/reports", json=vague, headers=headers)
    assert flagged.status_code == 201 and flagged.json()["flags"]
    batch = [report_body(UNITS[0]) for _ in range(3)]
    answered = client.post("/api/v1/reports/batch", json=batch, headers=headers)
    assert [(i["status"], i["report"]["flags"]) for i in answered.json()["results"]] == [
        (201, [])
    ] * 3
    for body in (good, vague):
        assert client.get(f"/api/v1/reports/{body['id']}", headers=headers).status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ingested = "gridwatch_reports_ingested_total"
    assert grew(ingested, outcome="accepted") == 4
    assert grew(ingested, outcome="flagged") == 1
    assert grew(ingested, outcome="resent") == 1
    latency = "gridwatch_http_request_duration_seconds_count"
    one = {"method": "GET", "route": "/api/v1/reports/{report_id}", "status": "200"}
    assert grew(latency, **one) == 2
    assert grew(latency, method="POST", route="/api/v1/reports", status="201") == 2
    assert grew(latency, method="POST", route="/api/v1/reports", status="200") == 1
    assert grew(latency, method="GET", route="unmatched", status="404") == 1
    routes = {dict(labels).get("route") for _, labels in after}
    assert not any(str(good["id"]) in (r or "") for r in routes)  # never a raw path


def test_outbox_depth_replicas_and_summary_lock_waits_come_from_the_database(
    client: TestClient, db: Session, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = WebhookTarget(url="http://127.0.0.1:9/hook", name="t")
    monkeypatch.setattr(get_settings(), "notify_webhooks", [target])
    db.execute(
        text(
            "INSERT INTO notifications (kind, dedupe_key, payload) VALUES "
            "('overdue', 'a', '{}'), ('overdue', 'b', '{}')"
        )
    )
    db.execute(
        text(
            "INSERT INTO notification_deliveries (notification_id, target, next_attempt_at, "
            "delivered_at) SELECT id, 't', now(), CASE WHEN dedupe_key = 'a' THEN now() END "
            "FROM notifications"
        )
    )
    # A target no longer configured: its undelivered events wait for nothing.
    db.execute(
        text(
            "INSERT INTO notification_deliveries (notification_id, target, next_attempt_at) "
            "SELECT id, 'gone', now() FROM notifications"
        )
    )
    db.commit()
    # Standbys come and go with the replica tests (tests/standby.py, in this run or another):
    # the scrape must show those that stream from the server at that moment, none or some.
    for _ in range(50):
        before = streaming(database_url)
        samples = scrape(client)
        if streaming(database_url) == before:
            break
    assert value(samples, "gridwatch_notify_outbox_depth") == 1
    assert value(samples, "gridwatch_replicas") == len(before)
    lag = "gridwatch_replica_lag_seconds"
    assert {dict(labels)["standby"] for name, labels in samples if name == lag} == set(before)
    assert value(samples, "gridwatch_summary_lock_waiters") == 0
    # A writer holds every cell summary (fn_lock_cells' whole-grid lock); another waits.
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(7302, 0)")
        waiting = threading.Thread(target=_take_summary_lock, args=(database_url,))
        waiting.start()
        for _ in range(100):
            if value(scrape(client), "gridwatch_summary_lock_waiters") == 1:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the waiting writer was not seen")
        holder.rollback()
    waiting.join(10)
    assert value(scrape(client), "gridwatch_summary_lock_waiters") == 0


def streaming(database_url: str) -> list[str]:
    """The standbys streaming from the test server now, by name, as the server lists them."""
    with psycopg.connect(database_url) as conn:
        query = "SELECT COALESCE(NULLIF(application_name, ''), 'unnamed') FROM pg_stat_replication"
        return sorted(name for (name,) in conn.execute(query))


def _take_summary_lock(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(7302, 0)")


def test_request_id_is_generated_or_taken_from_a_trusted_proxy(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = TestClient(app, client=("198.51.100.7", 5000))
    r = direct.get("/healthz", headers={"X-Request-ID": "from-anyone"})
    assert r.headers["x-request-id"] != "from-anyone" and len(r.headers["x-request-id"]) == 32
    assert direct.get("/healthz").headers["x-request-id"] != r.headers["x-request-id"]
    monkeypatch.setattr(get_settings(), "trusted_proxies", "10.0.0.0/8")
    proxy = TestClient(app, client=("10.1.2.3", 5000))
    r = proxy.get("/healthz", headers={"X-Request-ID": "edge-42.a:b"})
    assert r.headers["x-request-id"] == "edge-42.a:b"
    r = proxy.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert len(r.headers["x-request-id"]) == 32  # not a plain token: replaced
    r = direct.get("/healthz", headers={"X-Request-ID": "edge-43"})
    assert r.headers["x-request-id"] != "edge-43"  # the same header from a non-proxy


def test_access_lines_are_json_objects_with_the_request_fields(
    client: TestClient, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    make_user(db, "insp", "inspector")
    with caplog.at_level(logging.INFO, logger="gridwatch.access"):
        r = client.get("/api/v1/reports/not-a-uuid", headers=bearer(db, "insp"))
    assert r.status_code == 422
    [record] = [rec for rec in caplog.records if rec.name == "gridwatch.access"]
    RequestIdFilter().filter(record)
    line = orjson.loads(JsonFormatter().format(record))
    assert line["request_id"] == r.headers["x-request-id"]
    assert line["route"] == "/api/v1/reports/{report_id}" and line["method"] == "GET"
    assert line["status"] == 422 and line["level"] == "info"
    assert line["logger"] == "gridwatch.access" and line["duration_ms"] >= 0
    assert line["time"].endswith("+00:00") and "not-a-uuid" not in line["message"]


def test_a_scrape_with_the_database_down_still_answers_with_the_process_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "metrics_token", SecretStr(TOKEN))
    with socket.socket() as s:  # a port nobody listens on: the database "down"
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = f"postgresql://postgres@127.0.0.1:{port}/gridwatch"
    with TestClient(create_app(down)) as client:
        assert client.get("/healthz").status_code == 503
        r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        samples = {s.name: s for f in text_string_to_metric_families(r.text) for s in f.samples}
        assert samples["gridwatch_database_up"].value == 0
        assert "gridwatch_notify_outbox_depth" not in samples
        assert "gridwatch_http_request_duration_seconds_count" in samples
        # A wrong token is refused without the database's help.
        assert client.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404
