"""The CSV importers (roster, reports): a blank cell (empty, spaces, a full-width space) is
"not given" — fine where a column is optional, named as empty where it is required — and a
date no duty or report can have (year 1, year 9999 west of Greenwich, an offset of +23:59) is
named instead of crashing on the way into PostgreSQL (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Duty, Person, Report
from tests.cli.helpers import run_cli
from tests.cli.test_hostile_files import (
    REPORTS,
    ROSTER,
    counts,
    csv_text,
    refused,
    report_row,
    roster_row,
)
from tests.factories import make_user, two_by_two


@pytest.fixture
def staffed(db: Session) -> None:
    two_by_two(db)
    make_user(db, "insp", "inspector")


def test_blank_optional_roster_cells_are_not_given(
    tmp_path: Path, db: Session, staffed: None
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(csv_text(ROSTER, [roster_row(phone="  ", valid_from="", valid_to="\u3000")]))

    result = run_cli("import-roster", path)

    assert result.exit_code == 0, result.output
    person = db.scalars(select(Person).where(Person.username == "lifang")).one()
    duty = db.scalars(select(Duty).where(Duty.person_id == person.id)).one()
    assert person.phone is None
    assert duty.valid_from is None and duty.valid_to is None


def test_blank_required_roster_cells_are_named_as_empty(
    tmp_path: Path, db: Session, staffed: None
) -> None:
    path = tmp_path / "roster.csv"
    rows = [
        roster_row(duty=" "),
        roster_row(username="\t"),
        roster_row(username="wangjg", name="\u3000"),
        roster_row(username="zhaom", cell_code=""),
    ]
    path.write_text(csv_text(ROSTER, rows))
    before = counts(db)

    refused(
        run_cli("import-roster", path),
        path,
        "line 2: empty duty",
        "line 3: empty username",
        "line 4: empty name",
        "line 5: empty cell_code",
    )
    assert counts(db) == before


def test_blank_report_cells_required_are_named_optional_are_not_given(
    tmp_path: Path, db: Session, staffed: None
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        csv_text(
            REPORTS,
            [
                report_row(id=" ", lat=""),
                report_row(username="", lon="\u3000", observed_at=" ", kind=""),
            ],
        )
    )
    before = counts(db)
    refused(
        run_cli("import-reports", bad),
        bad,
        "line 2: empty id",
        "line 2: empty lat",
        "line 3: empty username",
        "line 3: empty lon",
        "line 3: empty observed_at",
        "line 3: empty kind",
    )
    assert "is not a number" not in run_cli("import-reports", bad).output
    assert counts(db) == before

    good = tmp_path / "good.csv"
    good.write_text(
        csv_text(REPORTS, [report_row(accuracy_m=" ", category="\u3000", description="  ")])
    )
    result = run_cli("import-reports", good)
    assert result.exit_code == 0, result.output
    report = db.scalars(select(Report)).one()
    assert (report.accuracy_m, report.category, report.description) == (None, None, None)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("valid_from", "0001-01-01", "valid_from '0001-01-01' must lie between 2000-01-01"),
        (
            "valid_to",
            "9999-12-31T23:59:59-12:00",
            "valid_to '9999-12-31T23:59:59-12:00' must lie between 2000-01-01 and 2100-01-01; "
            "leave it empty for a duty without end",
        ),
        (
            "valid_from",
            "2026-01-01T08:00:00+23:59",
            "valid_from '2026-01-01T08:00:00+23:59' has the UTC offset +23:59, which no place "
            "uses (-12:00 … +14:00)",
        ),
    ],
)
def test_roster_dates_out_of_range_are_named(
    tmp_path: Path, db: Session, staffed: None, column: str, value: str, expected: str
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(csv_text(ROSTER, [roster_row(), roster_row(username="w2", **{column: value})]))
    before = counts(db)

    refused(run_cli("import-roster", path), path, f"line 3: {expected}")
    assert counts(db) == before


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9999-12-31T23:59:59-12:00", "must lie between 2000-01-01 and 2100-01-01"),
        ("2026-01-01T08:00:00+23:59", "has the UTC offset +23:59, which no place uses"),
        ("2026-01-01T08:00:00-13:00", "has the UTC offset -13:00, which no place uses"),
    ],
)
def test_report_times_out_of_range_are_named(
    tmp_path: Path, db: Session, staffed: None, value: str, expected: str
) -> None:
    path = tmp_path / "reports.csv"
    path.write_text(csv_text(REPORTS, [report_row(), report_row(observed_at=value)]))
    before = counts(db)

    refused(run_cli("import-reports", path), path, f"line 3: observed_at {value!r} {expected}")
    assert counts(db) == before
