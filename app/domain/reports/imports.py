"""`gridwatch import-reports`: historical patrol reports from CSV (SPEC §6), through the same
intake as the API (cell, flags, counting) except `late_sync`. All rows are checked first; any
bad row, or an id already stored with a different body, rejects the whole file.

The file is read a row at a time and every valid row COPYed into a staging table; nothing is
decided until the whole file has been read and found valid. Then the rows are decided and
written set-wise in SQL (app/domain/reports/staging.py: the intake's rules, each reporter's
rows oldest first, in a fixed number of statements however large the file), the cases of
`issue` reports opened CHUNK at a time. Each report gets its `report.create` audit entry and
the file one `reports.import` entry with its SHA-256 and counts; one transaction."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.domain import audit
from app.domain.audit import file_sha256
from app.domain.csvfile import shorten, stream_csv
from app.domain.errors import InputRejected
from app.domain.hotspots.from_reports import open_cases_setwise
from app.domain.progress import NoProgress, Progress
from app.domain.reports import import_audit, staging
from app.domain.reports.categories import CATEGORIES
from app.domain.reports.intake import ReportData
from app.domain.timeparse import parse_plausible_instant
from app.models import Person

COLUMNS = (
    "id",
    "username",
    "lat",
    "lon",
    "accuracy_m",
    "observed_at",
    "kind",
    "category",
    "description",
)
REQUIRED = ("id", "username", "lat", "lon", "observed_at", "kind")
# The cases of issue reports are opened this many at a time.
CHUNK = 5_000
ORIGIN = "import"
STEPS = 5  # for the progress bar: read, decide, insert, cases, audit


@dataclass
class ImportedReports:
    added: int = 0
    unchanged: int = 0
    counted: int = 0
    flagged: int = 0


def _number(
    raw: str,
    name: str,
    low: float,
    high: float,
    problems: list[str],
    line: int,
    optional: bool = False,
) -> float | None:
    if not raw and optional:
        return None
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"line {line}: {name} {shorten(raw)!r} is not a number")
        return None
    if not math.isfinite(value) or not low <= value <= high:
        problems.append(f"line {line}: {name} {shorten(raw)} is outside {low:g} … {high:g}")
        return None
    return value


def _parse(
    line: int, raw: dict[str, str], persons: dict[str, int], problems: list[str]
) -> tuple[int, ReportData] | None:
    before = len(problems)
    # A blank cell (read_csv strips them) is not given: only the optional columns may be.
    empty = [c for c in REQUIRED if not raw[c]]
    problems += [f"line {line}: empty {c}" for c in empty]
    if "id" not in empty:
        try:
            report_id = uuid.UUID(raw["id"])
        except ValueError:
            problems.append(f"line {line}: id {shorten(raw['id'])!r} is not a UUID")
    if "username" not in empty and raw["username"] not in persons:
        problems.append(f"line {line}: no person with username {shorten(raw['username'])!r}")
    lat = None if "lat" in empty else _number(raw["lat"], "lat", -90, 90, problems, line)
    lon = None if "lon" in empty else _number(raw["lon"], "lon", -180, 180, problems, line)
    accuracy = _number(raw["accuracy_m"], "accuracy_m", 0, 1e6, problems, line, optional=True)
    if "observed_at" not in empty:
        try:  # the API's range of instants (SPEC §6: the same rules as the API)
            observed_at = parse_plausible_instant(raw["observed_at"])
        except ValueError as exc:
            problems.append(f"line {line}: observed_at {exc}")
    if "kind" not in empty and raw["kind"] not in ("patrol", "issue"):
        problems.append(f"line {line}: kind {shorten(raw['kind'])!r} is not patrol or issue")
    if raw["category"] and raw["category"] not in CATEGORIES:
        problems.append(f"line {line}: unknown category {shorten(raw['category'])!r}")
    if len(raw["description"]) > 4000:
        problems.append(f"line {line}: description longer than 4000 characters")
    if len(problems) > before or lat is None or lon is None:
        return None
    return persons[raw["username"]], ReportData(
        id=report_id,
        lat=lat,
        lon=lon,
        accuracy_m=accuracy,
        observed_at=observed_at,
        kind=raw["kind"],
        category=raw["category"] or None,
        description=raw["description"] or None,
    )


def import_reports(
    session: Session, path: Path, encoding: str = "utf-8-sig", progress: Progress | None = None
) -> ImportedReports:
    progress = progress or NoProgress()
    # Everyone who may have filed a report (a username of the file is looked up here).
    persons = dict(session.execute(select(Person.username, Person.id)).all())
    received_at = clock.now()
    progress.start("importing reports", STEPS)
    problems: list[str] = []
    lines = 0
    driver = staging.stage(session)
    with driver.cursor() as cursor, cursor.copy(staging.COPY) as copy:
        for line, raw in stream_csv(path, encoding, COLUMNS):
            lines += 1
            parsed = _parse(line, raw, persons, problems)
            if parsed is not None and not problems:  # after a problem, only look for more
                person_id, data = parsed
                copy.write_row(
                    (
                        line,
                        data.id,
                        person_id,
                        data.lon,
                        data.lat,
                        data.accuracy_m,
                        data.observed_at,
                        data.kind,
                        data.category,
                        data.description,
                        data.fingerprint(),
                    )
                )
    if not lines:
        raise InputRejected(str(path), ["no rows after the header"])
    if problems:
        raise InputRejected(str(path), problems)
    progress.advance()
    refused = staging.different_bodies(session)
    if refused:
        raise InputRejected(
            str(path),
            [
                f"line {line}: report {rid} was already filed with a different body"
                for line, rid in refused
            ],
        )
    counts = staging.decide(session, received_at)
    progress.advance()
    raced = staging.claim(session, counts["added"])
    if raced:
        raise InputRejected(
            str(path),
            [
                f"line {line}: report {rid} was filed by another request during the import; "
                "import the file again"
                for line, rid in raced
            ],
        )
    staging.insert(session, received_at, ORIGIN)
    progress.advance()
    for issues in staging.issue_reports(session, received_at, ORIGIN, CHUNK):
        open_cases_setwise(session, issues)  # every `issue` report opens its case, once (SPEC §4)
    progress.advance()
    # Last: the chain's head stays locked from here to the commit.
    import_audit.append_audit(session, received_at, ORIGIN)
    result = ImportedReports(
        added=counts["added"],
        unchanged=counts["rows"] - counts["added"],
        counted=counts["counted"],
        flagged=counts["flagged"],
    )
    audit.record(
        session,
        "reports.import",
        "file",
        path.name,
        after={"sha256": file_sha256(path), "rows": counts["rows"]} | vars(result),
    )
    progress.advance()
    return result
