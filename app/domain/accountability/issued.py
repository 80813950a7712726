"""Was this exact file issued by gridwatch? (SPEC §6 `gridwatch verify-export FILE`,
POST /api/v1/exports/verify.)

Every export and dossier is audited with its file's SHA-256 before it is sent
(app/api/exports.py `deliver`). Checking a file recomputes its SHA-256 and looks the hash up
among the export entries of the audit log (an index on `after->>'sha256'`, migration 0012);
each entry found is recomputed from its fields and link, so an entry edited after it was
written does not vouch for anything. One changed byte — one changed cell of a spreadsheet —
changes the hash: such a file is reported as not issued.

A file cannot hold its own hash (writing it would change it), so the file states the audit
chain's head before it was made; its own entry follows that head and is the one found here."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.accountability.method import unit_of
from app.domain.accountability.verify import body_of
from app.domain.audit import chain
from app.domain.people.scope import Viewer, visible
from app.models import AuditEntry, Cell, Person

EXPORT_ACTIONS = "export.%"  # export.accountability, export.dossier, …; the index's predicate
BLOCK = 1 << 20


@dataclass
class Issue:
    """One audit entry that issued a file with this hash."""

    seq: int
    at: Any
    action: str
    target: str | None
    actor: str
    actor_name: str | None
    actor_unit: str | None
    filename: str | None
    facts: dict[str, Any]
    entry_hash: str
    entry_intact: bool  # the entry still hashes to its stored hash

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "action": self.action,
            "target": self.target,
            "by": self.actor,
            "by_name": self.actor_name,
            "by_unit": self.actor_unit,
            "filename": self.filename,
            "facts": self.facts,
            "entry_hash": self.entry_hash,
            "entry_intact": self.entry_intact,
        }


@dataclass
class FileCheck:
    sha256: str
    size: int
    issues: list[Issue] = field(default_factory=list)

    @property
    def issued(self) -> bool:
        return any(i.entry_intact for i in self.issues)

    def summary(self) -> str:
        """One line, for the CLI."""
        if not self.issued:
            why = (
                "its audit entry was altered"
                if self.issues
                else "no export with this SHA-256 is in the audit log"
            )
            return f"NOT ISSUED: sha256 {self.sha256} ({self.size} bytes) — {why}"
        first = next(i for i in self.issues if i.entry_intact)
        who = first.actor if not first.actor_name else f"{first.actor_name} ({first.actor})"
        unit = f", {first.actor_unit}" if first.actor_unit else ""
        return (
            f"ISSUED: {first.filename or first.target} exported {first.at.isoformat()} by "
            f"{who}{unit}; {first.action}, audit entry {first.seq}, sha256 {self.sha256}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "issued": self.issued,
            "sha256": self.sha256,
            "size_bytes": self.size,
            "exports": [i.as_dict() for i in self.issues],
        }


def file_digest(stream: IO[bytes]) -> tuple[str, int]:
    """SHA-256 and size of a binary stream, read from where it stands, block by block."""
    digest = hashlib.sha256()
    size = 0
    for block in iter(lambda: stream.read(BLOCK), b""):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def check_file(session: Session, stream: IO[bytes], viewer: Viewer | None = None) -> FileCheck:
    """Whether the file in `stream` was exported, when and by whom: the audit entries of
    exports with its SHA-256 that `viewer` may see (None: every one, as on the server's own
    command line)."""
    sha256, size = file_digest(stream)
    stmt = select(AuditEntry).where(
        AuditEntry.action.like(EXPORT_ACTIONS), AuditEntry.after["sha256"].astext == sha256
    )
    if viewer is not None:
        stmt = stmt.where(visible(viewer, AuditEntry))
    entries = session.scalars(stmt.order_by(AuditEntry.seq)).all()
    people = _people(session, {e.actor_id for e in entries if e.actor_id is not None})
    return FileCheck(sha256, size, [_issue(e, people) for e in entries])


def _issue(e: AuditEntry, people: dict[int, tuple[str, str]]) -> Issue:
    name, unit = people.get(e.actor_id, (None, None)) if e.actor_id else (None, None)
    after = dict(e.after or {})
    return Issue(
        seq=e.seq,
        at=e.at,
        action=e.action,
        target=e.target_id,
        actor=e.actor,
        actor_name=name,
        actor_unit=unit,
        filename=after.pop("filename", None),
        facts=after,
        entry_hash=e.hash,
        entry_intact=e.hash == chain(e.prev_hash, body_of(e)),
    )


def _people(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(Person.id, Person.name, Person.role, Cell.name, Cell.code)
        .outerjoin(Cell, Cell.id == Person.scope_cell_id)
        .where(Person.id.in_(wanted))
    )
    return {
        pid: (name, unit_of(role, scope_name, scope_code))
        for pid, name, role, scope_name, scope_code in rows
    }
