"""`gridwatch plan USER [--date D]`: the same plan as the phone's, as a printed route sheet."""

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.cli.plans import countdown
from tests.cli.helpers import run_cli
from tests.factories import UNITS, report_body, staffed_field

MORNING = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in Xinxiang


def test_plan_prints_the_phones_plan_in_walking_order(
    client: TestClient, db: Session, time_machine: Any
) -> None:
    time_machine.move_to(MORNING, tick=False)
    field = staffed_field(client, db)
    at = (MORNING - timedelta(hours=70)).isoformat()
    body = report_body(UNITS[1], observed_at=at)
    assert (
        client.post("/api/v1/reports", json=body, headers=field.headers("insp")).status_code == 201
    )
    api = client.get("/api/v1/plan", headers=field.headers("insp")).json()
    expected = [i["ref"] for i in api["items"]]
    assert sorted(expected) == UNITS[:2]  # U0 never patrolled, U1 due in 2 h

    printed = run_cli("plan", "insp")
    assert printed.exit_code == 0, printed.output
    assert [printed.output.index(code) for code in expected] == sorted(
        printed.output.index(code) for code in expected
    )
    assert "从未巡查" in printed.output
    assert "2 小时 00 分后到期" in printed.output
    assert "plan for insp on 2026-03-02: 2 stop(s), 1 overdue" in printed.output
    assert "insp 2026-03-02 今日待巡：共 2 处，超期 1 处" in printed.output

    later = run_cli("plan", "insp", "--date", "2026-03-09")
    assert later.exit_code == 0 and "2 stop(s)" in later.output


def test_plan_refuses_an_unknown_user_and_a_bad_date(client: TestClient, db: Session) -> None:
    staffed_field(client, db)
    unknown = run_cli("plan", "nobody")
    assert unknown.exit_code == 1
    assert "no user 'nobody'" in unknown.output
    bad = run_cli("plan", "insp", "--date", "next week")
    assert bad.exit_code == 1
    assert "--date" in bad.output
    past = run_cli("plan", "insp", "--date", "2020-01-01")
    assert past.exit_code == 1
    assert "is past" in past.output


def test_the_countdown_rounds_down_to_the_minute_as_the_phone_does() -> None:
    assert countdown(timedelta(hours=2, seconds=-20)) == "1 小时 59 分后到期"
    assert countdown(timedelta(hours=2)) == "2 小时 00 分后到期"
    assert countdown(timedelta(minutes=-59, seconds=-40)) == "已超期 0 小时 59 分"
    assert countdown(timedelta(0)) == "已超期 0 小时 00 分"
    assert countdown(None) == "从未巡查"
