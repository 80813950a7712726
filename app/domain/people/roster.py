"""`gridwatch import-roster`: duty assignments from CSV (SPEC §3, §6).

Columns: cell_code,duty,username,name,phone,valid_from,valid_to (valid_to may be empty).
All rows are checked before any is written; errors name the line. Unknown usernames become
persons with role `inspector`. A row whose (cell, person, duty, valid_from) already exists
updates that duty's valid_to — that is how a duty ends; history is never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import audit
from app.domain.audit import file_sha256
from app.domain.csvfile import formula_problem, read_csv, shorten
from app.domain.errors import InputRejected
from app.domain.grid.cells import existing_cells
from app.domain.people.accounts import USERNAME, person_facts
from app.domain.progress import NoProgress, Progress
from app.domain.timeparse import parse_plausible_instant
from app.models import Duty, Person
from app.models.people import DUTIES

COLUMNS = ("cell_code", "duty", "username", "name", "phone", "valid_from", "valid_to")
DUTY_WORDS = {"网格长": "leader", "网格员": "member", "巡查员": "patroller", "监督员": "supervisor"}
MAX_NAME = 200


@dataclass
class RosterRow:
    line: int
    cell_code: str
    duty: str
    username: str
    name: str
    phone: str | None
    valid_from: datetime | None
    valid_to: datetime | None


@dataclass
class RosterResult:
    duties_added: int
    duties_updated: int
    persons_added: int


def _parse(line: int, raw: dict[str, str], problems: list[str]) -> RosterRow | None:
    before = len(problems)
    # A blank cell (read_csv strips them) is not given: phone, valid_from and valid_to may be.
    duty = DUTY_WORDS.get(raw["duty"], raw["duty"].lower())
    if not raw["duty"]:
        problems.append(f"line {line}: empty duty")
    elif duty not in DUTIES:
        problems.append(
            f"line {line}: duty {shorten(raw['duty'])!r} is not one of {', '.join(DUTIES)}"
        )
    if not raw["username"]:
        problems.append(f"line {line}: empty username")
    elif not USERNAME.match(raw["username"]):
        problems.append(
            f"line {line}: username {shorten(raw['username'])!r} must be 2–64 letters, digits "
            "or _ . @ -"
        )
    if not raw["cell_code"]:
        problems.append(f"line {line}: empty cell_code")
    if not raw["name"]:
        problems.append(f"line {line}: empty name")
    elif len(raw["name"]) > MAX_NAME:
        problems.append(f"line {line}: name is longer than {MAX_NAME} characters")
    elif problem := formula_problem("name", raw["name"]):
        problems.append(f"line {line}: {problem}")
    bounds: list[datetime | None] = []
    for col in ("valid_from", "valid_to"):
        try:
            bounds.append(parse_plausible_instant(raw[col]) if raw[col] else None)
        except ValueError as exc:
            # A "forever" date such as 9999-12-31 is how some HR systems say "no end".
            hint = "; leave it empty for a duty without end" if col == "valid_to" else ""
            problems.append(f"line {line}: {col} {exc}{hint}")
            bounds.append(None)
    if bounds[0] and bounds[1] and bounds[1] <= bounds[0]:
        problems.append(f"line {line}: valid_to must be after valid_from")
    if len(problems) > before:
        return None
    return RosterRow(
        line,
        raw["cell_code"],
        duty,
        raw["username"],
        raw["name"],
        raw["phone"] or None,
        bounds[0],
        bounds[1],
    )


def import_roster(
    session: Session, path: Path, encoding: str = "utf-8-sig", progress: Progress | None = None
) -> RosterResult:
    progress = progress or NoProgress()
    raw_rows = read_csv(path, encoding, COLUMNS)
    if not raw_rows:
        raise InputRejected(str(path), ["no rows after the header"])
    problems: list[str] = []
    rows = [r for line, raw in raw_rows if (r := _parse(line, raw, problems))]
    cells = existing_cells(session, [r.cell_code for r in rows])
    seen: dict[tuple[str, str, str, datetime | None], int] = {}
    for r in rows:
        if r.cell_code not in cells:
            problems.append(f"line {r.line}: no cell with code {shorten(r.cell_code)!r}")
        row_key = (r.cell_code, r.username, r.duty, r.valid_from)
        if row_key in seen:
            problems.append(
                f"line {r.line}: repeats line {seen[row_key]} "
                "(same cell, person, duty and valid_from)"
            )
        seen[row_key] = r.line
    if problems:
        raise InputRejected(str(path), problems)

    progress.start("writing duties", len(rows))
    persons = {
        p.username: p
        for p in session.scalars(
            select(Person).where(Person.username.in_({r.username for r in rows}))
        )
    }
    persons_added = added = updated = 0
    new_persons: list[Person] = []
    updated_persons: list[tuple[Person, dict[str, Any]]] = []
    for r in rows:
        person = persons.get(r.username)
        if person is None:
            person = Person(username=r.username, name=r.name, phone=r.phone, role="inspector")
            session.add(person)
            persons[r.username] = person
            new_persons.append(person)
            persons_added += 1
        else:
            before = person_facts(person)
            person.name = r.name
            person.phone = r.phone or person.phone
            if person_facts(person) != before:
                updated_persons.append((person, before))
    session.flush()
    cell_ids = list({cells[r.cell_code].id for r in rows})
    existing = {
        (d.cell_id, d.person_id, d.duty, d.valid_from): d
        for d in session.scalars(select(Duty).where(Duty.cell_id.in_(cell_ids)))
    }
    for person in new_persons:
        audit.record(session, "person.create", "person", person.id, after=person_facts(person))
    for person, before in updated_persons:
        audit.record(
            session, "person.update", "person", person.id, before=before, after=person_facts(person)
        )
    changed: list[tuple[Duty, dict[str, Any] | None]] = []
    for r in rows:
        key = (cells[r.cell_code].id, persons[r.username].id, r.duty, r.valid_from)
        duty = existing.get(key)
        if duty is None:
            duty = Duty(
                cell_id=key[0],
                person_id=key[1],
                duty=r.duty,
                valid_from=r.valid_from,
                valid_to=r.valid_to,
            )
            session.add(duty)
            changed.append((duty, None))
            added += 1
        elif duty.valid_to != r.valid_to:
            changed.append((duty, duty_facts(duty, r.username)))
            duty.valid_to = r.valid_to
            updated += 1
        progress.advance()
    session.flush()
    usernames = {p.id: name for name, p in persons.items()}
    for duty, was in changed:
        audit.record(
            session,
            "duty.update" if was else "duty.create",
            "duty",
            duty.id,
            cell_id=duty.cell_id,
            before=was,
            after=duty_facts(duty, usernames[duty.person_id]),
        )
    audit.record(
        session,
        "roster.import",
        "file",
        path.name,
        after={
            "sha256": file_sha256(path),
            "rows": len(rows),
            "duties_added": added,
            "duties_updated": updated,
            "persons_added": persons_added,
        },
    )
    return RosterResult(duties_added=added, duties_updated=updated, persons_added=persons_added)


def duty_facts(duty: Duty, username: str) -> dict[str, Any]:
    return {
        "cell_id": duty.cell_id,
        "person_id": duty.person_id,
        "username": username,
        "duty": duty.duty,
        "valid_from": duty.valid_from,
        "valid_to": duty.valid_to,
    }
