"""`gridwatch import-reports` files a whole file at once (all reporters' rows together): the
same cells and flags as the API's intake one report after another, on a real database."""

import csv
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain import audit
from app.domain.accountability import verify as audit_verify
from app.domain.reports.intake import ReportData, file_report
from app.domain.reports.review import report_facts
from app.models import AuditEntry, Cell, CellVisit, Person, Report
from tests.cli.helpers import run_cli
from tests.cli.test_import_reports import row, write
from tests.factories import CENTRES, UNITS, staffed_field


def stored(db: Session) -> dict[uuid.UUID, tuple[str | None, list[str], bool]]:
    """Each report's (cell code, flags, counted)."""
    rows = db.execute(
        select(Report.id, Cell.code, Report.flags, Report.counted).outerjoin(
            Cell, Cell.id == Report.cell_id
        )
    )
    return {rid: (code, list(flags), counted) for rid, code, flags, counted in rows}


def test_the_speed_check_follows_each_reporters_previous_counted_report(
    tmp_path: Path, client: TestClient, db: Session
) -> None:
    staffed_field(client, db)
    t = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    # insp's history: a counted patrol in UNITS[0] two hours after t, filed live.
    insp = db.scalar(select(Person).where(Person.username == "insp"))
    assert insp is not None
    lon, lat = CENTRES[UNITS[0]]
    audit.act_as(db, audit.Actor("insp", insp.id))
    file_report(
        db,
        person_id=insp.id,
        data=ReportData(
            id=uuid.uuid4(),
            lat=lat,
            lon=lon,
            observed_at=t + timedelta(hours=2),
            kind="patrol",
            accuracy_m=5,
        ),
        received_at=t + timedelta(hours=2),
    )
    db.commit()
    rows = [
        row(UNITS[0], t),  # counted
        row(UNITS[1], t + timedelta(seconds=10)),  # ~950 m in 10 s: impossible_speed
        # Against the previous COUNTED report (the first, same place), not the flagged one
        # just before it: counted.
        row(UNITS[0], t + timedelta(seconds=20)),
        row(UNITS[1], t + timedelta(hours=1)),  # ~950 m in an hour: counted
        # 10 s after the live patrol of the history (UNITS[0], t + 2 h), ~950 m away.
        row(UNITS[1], t + timedelta(hours=2, seconds=10)),
        # Another reporter near insp at the same instants is not compared with insp.
        row(UNITS[3], t + timedelta(seconds=5), user="other"),
        row(UNITS[0], t + timedelta(hours=1), user="other"),  # not their cell
        row(UNITS[3], t + timedelta(seconds=25), user="other", accuracy_m="500"),
    ]
    # The file's order is not time order: each reporter's rows are taken oldest first.
    path = write(tmp_path / "history.csv", list(reversed(rows)))

    result = run_cli("import-reports", path)

    assert result.exit_code == 0, result.output
    assert "8 reports added (4 counted, 4 flagged), 0 already present" in result.output
    db.expire_all()
    got = stored(db)
    expected = [
        (UNITS[0], [], True),
        (UNITS[1], ["impossible_speed"], False),
        (UNITS[0], [], True),
        (UNITS[1], [], True),
        (UNITS[1], ["impossible_speed"], False),
        (UNITS[3], [], True),
        (UNITS[0], ["not_on_duty"], False),
        (UNITS[3], ["low_accuracy"], False),
    ]
    assert [got[uuid.UUID(r["id"])] for r in rows] == expected
    visits = db.scalar(select(func.count()).select_from(CellVisit))
    assert visits == 1 + 4  # the live one and the counted imported ones


def test_a_reimport_is_idempotent_and_the_audit_chain_holds(
    tmp_path: Path, client: TestClient, db: Session
) -> None:
    """More rows than one audit statement chains (chained in the import's own SQL) and a
    second run."""
    staffed_field(client, db)
    start = datetime.now(UTC) - timedelta(days=10)
    rows = [
        row(
            UNITS[k % 2],
            start + timedelta(minutes=10 * k),
            kind="issue" if k % 10 == 0 else "patrol",
        )
        for k in range(audit.LARGE_APPEND + 40)
    ]
    path = write(tmp_path / "history.csv", rows)

    first = run_cli("import-reports", path)
    again = run_cli("import-reports", path)

    assert first.exit_code == 0, first.output
    assert f"{len(rows)} reports added ({len(rows)} counted, 0 flagged)" in first.output
    assert again.exit_code == 0, again.output
    assert f"0 reports added (0 counted, 0 flagged), {len(rows)} already present" in again.output
    assert db.scalar(select(func.count()).select_from(Report)) == len(rows)
    created = select(func.count()).where(AuditEntry.action == "report.create")
    assert db.scalar(created) == len(rows)
    imports = db.scalars(select(AuditEntry).where(AuditEntry.action == "reports.import")).all()
    assert [e.after["added"] for e in imports] == [len(rows), 0]
    assert imports[0].after["sha256"] == audit.file_sha256(path)
    verdict = audit_verify.verify(db, full=True)
    assert verdict.ok, verdict
    assert verdict.entries == db.scalar(select(func.count()).select_from(AuditEntry))


def test_one_id_under_two_reporters_rejects_the_file(
    tmp_path: Path, client: TestClient, db: Session
) -> None:
    staffed_field(client, db)
    when = datetime.now(UTC) - timedelta(days=1)
    mine = row(UNITS[0], when)
    theirs = {**mine, "username": "other"}  # the same body, filed by someone else
    result = run_cli("import-reports", write(tmp_path / "two.csv", [mine, theirs]))
    assert result.exit_code == 1
    assert "different body" in result.output
    assert db.scalar(select(func.count()).select_from(Report)) == 0


def test_the_audit_entries_written_in_sql_are_pythons_byte_for_byte(
    tmp_path: Path, client: TestClient, db: Session
) -> None:
    """The import builds its `report.create` entries' canonical JSON in SQL: text needing
    escapes, whole and tiny floats, ±0, microseconds and offsets must come out as Python
    writes them (the chain verifies, and each stored `after` is report_facts' JSON)."""
    staffed_field(client, db)
    t = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
    texts = ['say "hi" \\ back', "tab\there", "line\nbreak", "ctl\x1f\x7f", "路 🚧 \u2028 é"]
    rows = [row(UNITS[0], t + timedelta(minutes=k), description=d) for k, d in enumerate(texts)]
    rows += [
        row(UNITS[1], t + timedelta(hours=1), accuracy_m="0", category="outfall"),
        row(UNITS[1], t + timedelta(hours=2), accuracy_m="1000000"),
        row(UNITS[1], t + timedelta(hours=3, microseconds=123456), accuracy_m="12.5"),
        row(UNITS[1], t + timedelta(hours=4), accuracy_m="", kind="issue"),
        row(UNITS[0], t + timedelta(hours=5), lat="0.00001", lon="-0.0"),
        row(UNITS[0], t + timedelta(hours=6), lat="35", lon="113"),
    ]
    rows[-3]["observed_at"] = (
        (t + timedelta(hours=4)).astimezone(timezone(timedelta(hours=8))).isoformat()
    )
    path = tmp_path / "tricky.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    result = run_cli("import-reports", path)

    assert result.exit_code == 0, result.output
    db.expire_all()
    reports = {str(r.id): r for r in db.scalars(select(Report))}
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "report.create")).all()
    assert len(entries) == len(rows)
    for entry in entries:
        facts = audit.jsonable(report_facts(reports[entry.target_id]))
        assert audit.canonical_json(entry.after) == audit.canonical_json(facts)
    assert set(texts) <= {r.description for r in reports.values()}
    verdict = audit_verify.verify(db, full=True)
    assert verdict.ok, verdict


def test_a_row_repeated_in_the_file_is_one_report_and_a_changed_repeat_is_named(
    tmp_path: Path, client: TestClient, db: Session
) -> None:
    staffed_field(client, db)
    when = datetime.now(UTC) - timedelta(days=1)
    issue = row(UNITS[0], when, kind="issue")
    other = row(UNITS[1], when + timedelta(hours=1))
    result = run_cli("import-reports", write(tmp_path / "twice.csv", [issue, other, issue]))
    assert result.exit_code == 0, result.output
    assert "2 reports added (2 counted, 0 flagged), 1 already present" in result.output
    assert db.scalar(select(func.count()).select_from(Report)) == 2
    created = select(func.count()).where(AuditEntry.action == "hotspot.create")
    assert db.scalar(created) == 1  # one case for the issue

    changed = {**other, "id": str(uuid.uuid4())}
    clash = {**changed, "description": "改过的记录"}
    result = run_cli("import-reports", write(tmp_path / "clash.csv", [changed, other, clash]))
    assert result.exit_code == 1
    assert f"line 4: report {changed['id']} was already filed with a different body" in (
        result.output
    )
    assert db.scalar(select(func.count()).select_from(Report)) == 2


def test_the_import_decides_each_row_as_the_apis_batch_intake_does(
    tmp_path: Path, client: TestClient, db: Session
) -> None:
    """The set-wise import's flags (decided in SQL) and the API's intake (decided in Python)
    agree on random rows: cells, duty, accuracy, future times and impossible speeds."""
    import random

    from app.domain.reports.intake import file_reports_by

    staffed_field(client, db)
    rng = random.Random(20261130)
    outside = (CENTRES[UNITS[0]][0] + 0.5, CENTRES[UNITS[0]][1])
    now = datetime.now(UTC).replace(microsecond=0)
    t = now - timedelta(days=6)  # 60 steps of at most 2 h stay in the past
    rows = []
    for _ in range(60):
        t += timedelta(seconds=rng.choice([5, 30, 600, 7200]))
        user = rng.choice(["insp", "insp", "other"])
        cell = rng.choice(UNITS)
        when = now + timedelta(days=1) if rng.random() < 0.08 else t
        r = row(cell, when, user=user, accuracy_m=rng.choice(["8", "8", "8", "300"]))
        if rng.random() < 0.08:
            r["lon"], r["lat"] = str(outside[0]), str(outside[1])
        rows.append(r)
    people = dict(db.execute(select(Person.username, Person.id)).all())
    ordered = sorted(rows, key=lambda r: (people[r["username"]], r["observed_at"]))

    with db.begin_nested() as api:  # the reference, rolled back before the import
        filed = file_reports_by(
            db,
            reporters=[people[r["username"]] for r in ordered],
            items=[
                ReportData(
                    id=uuid.UUID(r["id"]),
                    lat=float(r["lat"]),
                    lon=float(r["lon"]),
                    observed_at=datetime.fromisoformat(r["observed_at"]),
                    kind="patrol",
                    accuracy_m=float(r["accuracy_m"]),
                    description=r["description"],
                )
                for r in ordered
            ],
            received_at=datetime.now(UTC),
            origin="import",
            late_sync=False,
        )
        expected = {}
        for f in filed:
            assert not isinstance(f, Exception), f
            expected[f.report.id] = (f.cell_code, sorted(f.report.flags), f.report.counted)
        api.rollback()
    db.rollback()
    assert {flag for _, flags, _ in expected.values() for flag in flags} >= {
        "impossible_speed",
        "low_accuracy",
        "future_time",
        "not_on_duty",
    }

    result = run_cli("import-reports", write(tmp_path / "random.csv", rows))

    assert result.exit_code == 0, result.output
    db.expire_all()
    got = {rid: (code, sorted(fl), counted) for rid, (code, fl, counted) in stored(db).items()}
    assert got == expected
