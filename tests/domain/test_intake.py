"""Intake at the domain level: the race between two requests filing the same report id."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from app.db import make_sessionmaker
from app.domain import audit
from app.domain.accountability import verify as audit_verify
from app.domain.errors import Conflict
from app.domain.reports.intake import Filed, ReportData, file_report
from app.models import AuditEntry, CellVisit, Report
from tests.factories import CENTRES, SINCE, UNITS, give_duty, make_user, two_by_two


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def wait_until_blocked(db: Session) -> None:
    """Until some other session of this database waits for a lock."""
    for _ in range(200):
        waiting = db.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        )
        db.rollback()
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the second request never waited for the first")


@pytest.mark.parametrize("same_body", [True, False])
def test_a_report_stored_meanwhile_by_another_request_is_answered_from_it(
    engine: Engine, db: Session, same_body: bool
) -> None:
    two_by_two(db)
    insp = make_user(db, "insp", "inspector")
    give_duty(db, insp, UNITS[0], valid_from=SINCE)
    lon, lat = CENTRES[UNITS[0]]
    data = ReportData(
        id=uuid.uuid4(), lat=lat, lon=lon, observed_at=datetime.now(UTC), kind="patrol"
    )
    sessions = make_sessionmaker(engine)
    first = sessions()
    audit.act_as(first, audit.Actor("insp", insp.id))
    file_report(first, person_id=insp.id, data=data, received_at=datetime.now(UTC))

    answers: list[Filed | Exception] = []

    def second_request() -> None:
        with sessions() as session:
            audit.act_as(session, audit.Actor("insp", insp.id))
            body = data if same_body else ReportData(**{**vars(data), "description": "改了"})
            try:
                answers.append(
                    file_report(
                        session, person_id=insp.id, data=body, received_at=datetime.now(UTC)
                    )
                )
            except Conflict as exc:
                answers.append(exc)
            session.commit()

    racer = threading.Thread(target=second_request)
    racer.start()
    wait_until_blocked(db)  # it looked the id up before the first commit; its insert waits
    first.commit()
    first.close()
    racer.join(timeout=30)

    [answer] = answers
    if same_body:
        assert isinstance(answer, Filed) and not answer.created
        assert answer.report.id == data.id and answer.cell_code == UNITS[0]
    else:
        assert isinstance(answer, Conflict)
    assert (count(db, Report), count(db, CellVisit), count(db, AuditEntry)) == (1, 1, 1)
    assert audit_verify.verify(db).ok


def test_a_counted_report_waits_while_a_bulk_change_holds_the_summaries(
    engine: Engine, db: Session
) -> None:
    """Intake follows the database's lock protocol (gridwatch_lock_cells): the summary lock
    shared before the cells' locks, so a bulk change holding it exclusively goes first."""
    two_by_two(db)
    insp = make_user(db, "insp", "inspector")
    give_duty(db, insp, UNITS[0], valid_from=SINCE)
    lon, lat = CENTRES[UNITS[0]]
    data = ReportData(
        id=uuid.uuid4(), lat=lat, lon=lon, observed_at=datetime.now(UTC), kind="patrol"
    )
    bulk = make_sessionmaker(engine)()
    bulk.execute(
        text("SELECT gridwatch_lock_cells(CAST(:cells AS bigint[]))"),
        {"cells": list(range(1, 300))},
    )
    filed: list[Filed] = []

    def report() -> None:
        with make_sessionmaker(engine)() as session:
            audit.act_as(session, audit.Actor("insp", insp.id))
            filed.append(
                file_report(session, person_id=insp.id, data=data, received_at=datetime.now(UTC))
            )
            session.commit()

    reporter = threading.Thread(target=report)
    reporter.start()
    wait_until_blocked(db)
    assert not filed
    bulk.commit()
    bulk.close()
    reporter.join(timeout=30)
    assert filed and filed[0].report.counted
    assert count(db, CellVisit) == 1
