"""Verifying the audit chain (GET /api/v1/audit/verify, `gridwatch restore`), with checkpoints
so that a call costs only the entries appended since the last verification.

After a verification finds the chain whole, it records a checkpoint: entries 1..seq are whole
and entry seq has this hash. The next call starts at the newest checkpoint: it checks that
the entry there still has the checkpoint's hash and that its content still hashes to it, then
recomputes every entry after it, up to the chain's head. `full` ignores the checkpoints and
recomputes from the first entry.

Checkpoints are append-only like the log, the database takes one only for an entry with
exactly its stored hash (migration 0007), and each carries an HMAC of its entry number and
hash under the server's signing secret: a checkpoint written by anyone else (someone with
access to the database alone) is passed over, and verification starts at the newest signed
one, or at the first entry. A normal call does not look behind its checkpoint: an entry there
changed or removed by someone able to switch the log's triggers off is found by the full
verification, which the discipline office and admins may run at any time.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app import clock
from app.domain.audit import GENESIS, actor_of, canonical, chain
from app.models import AuditCheckpoint, AuditEntry, AuditHead
from app.security import keyed_hash

FULL_VERIFIERS = ("admin", "discipline")  # who may recompute the whole chain on demand
SIGNED_CHECKPOINTS_LOOKED_AT = 100  # beyond these unsigned ones, start from the first entry
_ENTRIES = AuditEntry.__table__


@dataclass
class Verdict:
    ok: bool
    entries: int  # entries found whole, from the first
    head: str
    first_broken: int | None = None
    problem: str | None = None
    checked_from: int | None = None  # the first entry recomputed by this call
    checked: int = 0  # how many entries this call recomputed
    checkpoint: int | None = None  # the checkpoint it started from, if any
    full: bool = False
    # Newer checkpoints without this server's signature, passed over: someone wrote them into
    # the database directly (or the signing secret was changed since).
    unsigned_checkpoints: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": self.head,
            "first_broken": self.first_broken,
            "problem": self.problem,
            "checked_from": self.checked_from,
            "checked": self.checked,
            "checkpoint": self.checkpoint,
            "full": self.full,
            "unsigned_checkpoints": self.unsigned_checkpoints,
        }


def verify(session: Session, *, full: bool = False) -> Verdict:
    """Recompute the chain from the newest checkpoint (`full`: from the first entry); the
    first entry whose fields, link or number do not match. A whole chain gets a checkpoint at
    its head, recorded for the session's actor.

    Reads the head, the checkpoint and the entries from one snapshot (REPEATABLE READ, on a
    connection of its own): entries committed meanwhile are neither seen nor missed."""
    engine = session.get_bind().engine
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            row = conn.execute(
                select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
            ).first()
            head_seq, head_hash = (row.seq, row.hash) if row else (0, GENESIS)
            checkpoint, unsigned = (None, []) if full else _newest_signed_checkpoint(conn)
            verdict = _verify(conn, head_seq, head_hash, checkpoint)
            verdict.unsigned_checkpoints = unsigned
    verdict.full = full
    if verdict.ok and verdict.entries > (checkpoint.seq if checkpoint else 0):
        with engine.begin() as conn:
            conn.execute(
                insert(AuditCheckpoint)
                .values(
                    seq=verdict.entries,
                    hash=verdict.head,
                    verified_at=clock.now(),
                    verified_from=verdict.checked_from,
                    verified_by=actor_of(session).name,
                    signature=_signature(verdict.entries, verdict.head),
                )
                .on_conflict_do_nothing(index_elements=["seq"])
            )
    return verdict


def _signature(seq: int, entry_hash: str) -> str:
    return keyed_hash("audit-checkpoint", f"{seq}:{entry_hash}")


def _newest_signed_checkpoint(conn: Connection) -> tuple[Any, list[int]]:
    """The newest checkpoint this server signed, and the newer ones it did not sign."""
    rows = conn.execute(
        select(AuditCheckpoint.seq, AuditCheckpoint.hash, AuditCheckpoint.signature)
        .order_by(AuditCheckpoint.seq.desc())
        .limit(SIGNED_CHECKPOINTS_LOOKED_AT)
    )
    unsigned: list[int] = []
    for row in rows:
        if hmac.compare_digest(row.signature, _signature(row.seq, row.hash)):
            return row, unsigned
        unsigned.append(row.seq)
    return None, unsigned


def _verify(conn: Connection, head_seq: int, head_hash: str, checkpoint: Any) -> Verdict:
    if checkpoint is None:
        return _check(_entries_after(conn, 0), head_seq, head_hash, GENESIS, 1)
    seq = checkpoint.seq

    def broken(problem: str, entries: int = seq - 1, at: int = seq, checked: int = 0) -> Verdict:
        first = seq if checked else None
        return Verdict(False, entries, head_hash, at, problem, first, checked, seq)

    if seq > head_seq:
        return broken(
            f"entry {seq} was verified before, but the chain's head says {head_seq}: "
            "entries were removed",
            entries=head_seq,
            at=head_seq + 1,
        )
    entry = conn.execute(select(_ENTRIES).where(_ENTRIES.c.seq == seq)).first()
    if entry is None:
        return broken(f"entry {seq}, verified at a checkpoint, is missing (deleted)")
    if entry.hash != checkpoint.hash:
        return broken(
            "its hash is not the one its checkpoint recorded: the entry or the checkpoint "
            "was changed"
        )
    if entry.hash != chain(entry.prev_hash, body_of(entry)):
        return broken(
            "its content does not match its hash: it was edited after it was written", checked=1
        )
    rest = _check(_entries_after(conn, seq), head_seq, head_hash, entry.hash, seq + 1)
    rest.checked_from, rest.checked, rest.checkpoint = seq, rest.checked + 1, seq
    return rest


def _entries_after(conn: Connection, seq: int) -> Iterable[Any]:
    return conn.execution_options(stream_results=True, yield_per=5000).execute(
        select(_ENTRIES).where(_ENTRIES.c.seq > seq).order_by(_ENTRIES.c.seq)
    )


def _check(rows: Iterable[Any], head_seq: int, head_hash: str, prev: str, first: int) -> Verdict:
    """Recompute `rows`, which should be entries `first`, `first` + 1, … up to the head, the
    entry before them having hash `prev`."""
    expected, checked = first, 0

    def broken(seq: int, problem: str) -> Verdict:
        return Verdict(False, expected - 1, head_hash, seq, problem, first, checked)

    for e in rows:
        if e.seq != expected:
            return broken(expected, f"entries {expected}–{e.seq - 1} are missing (deleted)")
        if e.prev_hash != prev:
            return broken(e.seq, "its link to the previous entry changed")
        checked += 1
        if e.hash != chain(prev, body_of(e)):
            return broken(
                e.seq, "its content does not match its hash: it was edited after it was written"
            )
        prev, expected = e.hash, expected + 1
    n = expected - 1
    if n != head_seq or prev != head_hash:
        return broken(
            n + 1, f"the chain ends at entry {n} but its head says {head_seq}: entries were removed"
        )
    return Verdict(True, n, head_hash, checked_from=first, checked=checked)


def body_of(e: Any) -> bytes:
    return canonical(
        seq=e.seq,
        at=e.at,
        actor=e.actor,
        actor_id=e.actor_id,
        action=e.action,
        target_type=e.target_type,
        target_id=e.target_id,
        cell_id=e.cell_id,
        before=e.before,
        after=e.after,
    )
