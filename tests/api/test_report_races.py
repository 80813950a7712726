"""Two writers on one report: the second waits for the first and decides on what it wrote,
never on the copy it read before (a lost update would leave a review that never happened, or
drop a photo's flag)."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.db import make_sessionmaker
from app.domain.errors import Conflict
from app.domain.people.accounts import get_person
from app.domain.reports.review import review_report
from app.models import Report
from tests.factories import report_body, staffed_field


def test_a_second_review_waits_for_the_first_and_is_refused(
    client: TestClient, db: Session, engine: Engine
) -> None:
    field = staffed_field(client, db)
    r = client.post(
        "/api/v1/reports", json=report_body(accuracy_m=500), headers=field.headers("insp")
    )
    assert r.status_code == 201 and r.json()["flags"], r.text
    report_id = r.json()["id"]
    sessions = make_sessionmaker(engine)
    reviewer = get_person(db, "sup")
    assert reviewer is not None

    read = threading.Event()
    outcome: list[object] = []

    def second_reviewer() -> None:
        with sessions() as other:
            report = other.get(Report, report_id)
            assert report is not None and report.review_status is None
            read.set()  # it has read the report before the first review commits
            try:
                review_report(other, report, reviewer_id=reviewer.id, accept=False, note="no")
                other.commit()
                outcome.append("rejected")
            except Conflict as exc:
                outcome.append(exc)

    with sessions() as first:
        report = first.get(Report, report_id)
        assert report is not None
        review_report(first, report, reviewer_id=reviewer.id, accept=True, note="ok")
        first.flush()  # the first review's row lock is held until it commits
        thread = threading.Thread(target=second_reviewer)
        thread.start()
        assert read.wait(10)
        thread.join(0.5)  # the second reviewer is now waiting on the row
        first.commit()
    thread.join(10)

    assert len(outcome) == 1 and isinstance(outcome[0], Conflict), outcome
    assert "already accepted" in str(outcome[0])
    db.expire_all()
    stored = db.get(Report, report_id)
    assert stored is not None and stored.review_status == "accepted"
