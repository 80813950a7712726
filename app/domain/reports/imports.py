"""`gridwatch import-reports`: historical patrol reports from CSV (SPEC §6), through the same
intake as the API (cell, flags, counting) except `late_sync`. All rows are checked first; any
bad row, or an id already stored with a different body, rejects the whole file.

The rows are filed set-wise, every reporter at once, CHUNK rows per call of the batch intake
(`file_reports_by`: one lookup, one insert, one history append per call), each reporter's rows
oldest first — the same decisions as filing them one by one, in a fixed number of statements
per chunk. Each report gets its `report.create` audit entry and the file one `reports.import`
entry with its SHA-256 and counts; the entries are chained at the commit, linearly."""

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
from app.domain.csvfile import read_csv, shorten
from app.domain.errors import DomainError, InputRejected
from app.domain.progress import NoProgress, Progress
from app.domain.reports.categories import CATEGORIES
from app.domain.reports.intake import ReportData, file_reports_by
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
# Rows are filed this many at a time, through the API's batch intake (a fixed number of
# statements per call however many rows, for any number of reporters).
CHUNK = 5_000


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


def _by_reporter(
    parsed: list[tuple[int, tuple[int, ReportData]]],
) -> list[tuple[int, int, ReportData]]:
    """The rows as (line, reporter, report), each reporter's together and oldest first (ties
    in file order), so that each report's "previous counted report" (impossible_speed) is the
    one the reporter really filed before it, in this file or before."""
    rows = [(line, person_id, data) for line, (person_id, data) in parsed]
    rows.sort(key=lambda row: (row[1], row[2].observed_at))
    return rows


def import_reports(
    session: Session, path: Path, encoding: str = "utf-8-sig", progress: Progress | None = None
) -> ImportedReports:
    progress = progress or NoProgress()
    raw_rows = read_csv(path, encoding, COLUMNS)
    if not raw_rows:
        raise InputRejected(str(path), ["no rows after the header"])
    usernames = {raw["username"] for _, raw in raw_rows}
    persons = {
        username: person_id
        for username, person_id in session.execute(
            select(Person.username, Person.id).where(Person.username.in_(usernames))
        )
    }
    problems: list[str] = []
    parsed = [(line, p) for line, raw in raw_rows if (p := _parse(line, raw, persons, problems))]
    if problems:
        raise InputRejected(str(path), problems)
    result = ImportedReports()
    received_at = clock.now()
    progress.start("importing reports", len(parsed))
    refused: list[tuple[int, str]] = []
    rows = _by_reporter(parsed)
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        outcomes = file_reports_by(
            session,
            reporters=[person_id for _, person_id, _ in chunk],
            items=[data for _, _, data in chunk],
            received_at=received_at,
            origin="import",
            late_sync=False,
        )
        for (line, _, _), filed in zip(chunk, outcomes, strict=True):
            if isinstance(filed, DomainError):
                refused.append((line, filed.message))
            elif filed.created:
                result.added += 1
                result.counted += filed.report.counted
                result.flagged += bool(filed.report.flags)
            else:
                result.unchanged += 1
        progress.advance(len(chunk))
    if refused:
        raise InputRejected(
            str(path), [f"line {line}: {message}" for line, message in sorted(refused)]
        )
    audit.record(
        session,
        "reports.import",
        "file",
        path.name,
        after={"sha256": file_sha256(path), "rows": len(parsed)} | vars(result),
    )
    return result
