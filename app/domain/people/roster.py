"""`gridwatch import-roster`: duty assignments from a bureau's roster (SPEC §3, §6).

The file is an Excel workbook or CSV (UTF-8 or GBK, detected), with English or Chinese
headers (app/domain/people/rosterrows.py). All rows are checked before any is written; errors
name the line or row. Unknown people become persons — 网格长 `leader`, everyone else
`inspector`; an inspector who becomes a 网格长 becomes a `leader`. A row whose (cell, person,
duty, valid_from) already exists updates that duty's valid_to — that is how a duty ends;
history is never deleted. With `accounts`, each person of the roster without a login gets one
with a one-time password (app/domain/people/credentials.py writes the sheet).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain import audit
from app.domain.audit import file_sha256
from app.domain.csvfile import shorten
from app.domain.errors import InputRejected
from app.domain.grid.cells import existing_cells
from app.domain.people.accounts import create_logins, person_facts
from app.domain.people.credentials import Credential
from app.domain.people.rosterrows import HEADERS, REQUIRED, RosterRow, parse_row, phone_digits
from app.domain.progress import NoProgress, Progress
from app.domain.sheets import read_table
from app.models import Cell, Duty, Person, UserAccount

COLUMNS = tuple(HEADERS)  # the English header: cell_code,duty,username,name,phone,valid_from,…


@dataclass
class RosterResult:
    rows: int
    duties_added: int
    duties_updated: int
    persons_added: int
    persons_promoted: int = 0
    notes: list[str] = field(default_factory=list)
    cell_codes: list[str] = field(default_factory=list)
    credentials: list[Credential] = field(default_factory=list)


@dataclass
class Checked:
    rows: list[RosterRow]
    cells: dict[str, Cell]
    persons: dict[str, Person]  # by the username each row's person has or gets
    notes: list[str]


def check_roster(session: Session, path: Path, encoding: str | None = None) -> Checked:
    """Read and check the whole roster; InputRejected names every problem."""
    table = read_table(path, HEADERS, REQUIRED, encoding)
    if not table.rows:
        raise InputRejected(str(path), ["no rows after the header"])
    problems: list[str] = []
    rows = [r for line, raw in table.rows if (r := parse_row(table, line, raw, problems))]
    cells = existing_cells(session, [r.cell_code for r in rows])
    problems += _unknown_cells(session, rows, cells)
    seen: dict[tuple[str, str, str, datetime | None], RosterRow] = {}
    by_phone: dict[str, RosterRow] = {}
    for r in rows:
        key = (r.cell_code, r.known_as, r.duty, r.valid_from)
        if key in seen:
            problems.append(
                f"{r.at}: repeats {seen[key].at} (same cell, person, duty and valid_from)"
            )
        seen[key] = r
        if r.username is None and r.phone:
            first = by_phone.setdefault(phone_digits(r.phone), r)
            if first.name != r.name:
                problems.append(
                    f"{r.at}: phone {r.phone} is on {first.at} with the name {first.name}, here "
                    f"{r.name}: one phone is one person; correct the phone or the name (or add "
                    "a 用户名 column)"
                )
    persons = _persons(session, rows, problems)
    if problems:
        # In the order of the file: a row's own faults and its unknown cell side by side.
        raise InputRejected(str(path), sorted(problems, key=_place))
    return Checked(rows, cells, persons, table.notes)


def _place(problem: str) -> int:
    found = re.match(r"(?:line|row) (\d+):", problem)
    return int(found[1]) if found else 0


def _unknown_cells(session: Session, rows: list[RosterRow], cells: dict[str, Cell]) -> list[str]:
    unknown = {r.cell_code for r in rows if r.cell_code not in cells}
    # A code that lost its leading zeros in Excel still names its cell once they are back.
    padded: dict[str, str] = {}
    digits = [c for c in unknown if c.isdigit()]
    if digits:
        stripped = func.ltrim(Cell.code, "0")
        for code, short in session.execute(
            select(Cell.code, stripped).where(stripped.in_(digits), Cell.code != stripped)
        ):
            padded.setdefault(short, code)
    problems = []
    for r in rows:
        if r.cell_code in cells:
            continue
        problem = f"{r.at}: no cell with code {shorten(r.cell_code)!r}"
        if r.cell_code in padded:
            problem += (
                f"; the grid has {padded[r.cell_code]}: Excel dropped the leading zeros — "
                "format the column as Text (设置单元格格式 › 文本) and type the codes again"
            )
        problems.append(problem)
    return problems


def _persons(session: Session, rows: list[RosterRow], problems: list[str]) -> dict[str, Person]:
    """The existing person of each row, keyed by the username the row's person has or gets.
    A row without a username is the person of that derived username, else the one person
    with that phone."""
    names = {r.known_as for r in rows}
    found = {
        p.username: p for p in session.scalars(select(Person).where(Person.username.in_(names)))
    }
    wanted = {phone_digits(r.phone or "") for r in rows if r.username is None} - {""}
    wanted |= {"86" + d for d in wanted}
    with_phone: dict[str, list[Person]] = defaultdict(list)
    if wanted:
        digits_only = func.regexp_replace(Person.phone, "[^0-9]", "", "g")
        for p in session.scalars(select(Person).where(digits_only.in_(wanted))):
            with_phone[phone_digits(p.phone or "")].append(p)
    for r in rows:
        if r.username is not None or r.known_as in found:
            continue
        holders = with_phone.get(phone_digits(r.phone or ""), [])
        if len(holders) == 1:
            found[r.known_as] = holders[0]
        elif len(holders) > 1:
            problems.append(
                f"{r.at}: phone {r.phone} belongs to several persons "
                f"({', '.join(sorted(p.username for p in holders))}); add a 用户名 (username) "
                "column saying which"
            )
    return found


def import_roster(
    session: Session,
    path: Path,
    encoding: str | None = None,
    progress: Progress | None = None,
    *,
    accounts: bool = False,
) -> RosterResult:
    """Check the roster, then write its persons and duties (and, with `accounts`, logins) in
    the caller's transaction."""
    progress = progress or NoProgress()
    checked = check_roster(session, path, encoding)
    rows, cells, persons = checked.rows, checked.cells, checked.persons
    progress.start("writing duties", len(rows))
    leads = {r.known_as for r in rows if r.duty == "leader"}
    new_persons: list[Person] = []
    updated_persons: list[tuple[Person, dict[str, Any]]] = []
    promoted = 0
    for r in rows:
        person = persons.get(r.known_as)
        if person is None:
            role = "leader" if r.known_as in leads else "inspector"
            person = Person(username=r.known_as, name=r.name, phone=r.phone, role=role)
            session.add(person)
            persons[r.known_as] = person
            new_persons.append(person)
        elif person not in new_persons:
            before = person_facts(person)
            person.name = r.name
            person.phone = r.phone or person.phone
            if person.role == "inspector" and r.known_as in leads:
                person.role = "leader"
                promoted += 1
            if person_facts(person) != before and all(p is not person for p, _ in updated_persons):
                updated_persons.append((person, before))
    session.flush()
    for person in new_persons:
        audit.record(session, "person.create", "person", person.id, after=person_facts(person))
    for person, before in updated_persons:
        audit.record(
            session, "person.update", "person", person.id, before=before, after=person_facts(person)
        )
    added, updated = _write_duties(session, rows, cells, persons, progress)
    credentials = _logins(session, rows, persons) if accounts else []
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
            "persons_added": len(new_persons),
            "persons_promoted": promoted,
            "logins_created": len(credentials),
        },
    )
    return RosterResult(
        rows=len(rows),
        duties_added=added,
        duties_updated=updated,
        persons_added=len(new_persons),
        persons_promoted=promoted,
        notes=checked.notes,
        cell_codes=sorted(cells),
        credentials=credentials,
    )


def _write_duties(
    session: Session,
    rows: list[RosterRow],
    cells: dict[str, Cell],
    persons: dict[str, Person],
    progress: Progress,
) -> tuple[int, int]:
    cell_ids = list({cells[r.cell_code].id for r in rows})
    existing = {
        (d.cell_id, d.person_id, d.duty, d.valid_from): d
        for d in session.scalars(select(Duty).where(Duty.cell_id.in_(cell_ids)))
    }
    added = updated = 0
    changed: list[tuple[Duty, dict[str, Any] | None]] = []
    for r in rows:
        key = (cells[r.cell_code].id, persons[r.known_as].id, r.duty, r.valid_from)
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
            existing[key] = duty
            changed.append((duty, None))
            added += 1
        elif duty.valid_to != r.valid_to:
            changed.append((duty, duty_facts(duty, persons[r.known_as].username)))
            duty.valid_to = r.valid_to
            updated += 1
        progress.advance()
    session.flush()
    usernames = {p.id: p.username for p in persons.values()}
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
    return added, updated


def _logins(
    session: Session, rows: list[RosterRow], persons: dict[str, Person]
) -> list[Credential]:
    """A login for every person of the roster who has none, with a one-time password."""
    ids = {p.id for p in persons.values()}
    with_login = set(
        session.scalars(select(UserAccount.person_id).where(UserAccount.person_id.in_(ids)))
    )
    cells_of: dict[int, set[str]] = defaultdict(set)
    for r in rows:
        cells_of[persons[r.known_as].id].add(r.cell_code)
    without = sorted(
        {p.id: p for p in persons.values() if p.id not in with_login}.values(),
        key=lambda p: p.username,
    )
    passwords = create_logins(session, without)
    return [
        Credential(
            username=p.username,
            name=p.name,
            phone=p.phone,
            cells=sorted(cells_of[p.id]),
            role=p.role,
            password=passwords[p.id],
        )
        for p in without
    ]


def duty_facts(duty: Duty, username: str) -> dict[str, Any]:
    return {
        "cell_id": duty.cell_id,
        "person_id": duty.person_id,
        "username": username,
        "duty": duty.duty,
        "valid_from": duty.valid_from,
        "valid_to": duty.valid_to,
    }
