"""The audit trail (SPEC §7: every write lands in it — who, what, when, before/after).

Domain code calls `record(session, ...)` next to the write it describes. Entries wait on the
session and are appended when the outermost transaction commits — chained in one statement
sent together with COMMIT (the database hashes each entry's canonical JSON, built here, with
the sequence number and time it takes under the chain's one-row lock), so that lock is held for
as short a time as possible and an entry exists exactly when its write does (a rolled-back
savepoint drops its entries). Everything else the commit does — the deferred roll-up
recomputation with its parents' locks — runs before the chain's lock is taken.

Entry hash = SHA-256(previous hash + "\\n" + canonical JSON of the entry's other fields).
app/domain/accountability/verify.py recomputes the chain and names the first entry that does
not match.

Actions: report.create, report.review, photo.create, patrol.create, hotspot.create,
hotspot.transition, source.create, source.update, source.inspect, roster.import,
grid.import, grid.generate, reports.import, user.create, user.update, export.<kind>.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, SessionTransaction

from app.db import json_param
from app.domain.auditcommit import SETTLE, commit_appending
from app.models import AuditEntry, AuditHead

GENESIS = "0" * 64
PENDING = "gridwatch.audit.pending"
ACTOR = "gridwatch.audit.actor"
ASSIGNED = "gridwatch.audit.assigned"  # the seqs the session's last commit appended


@dataclass(frozen=True)
class Actor:
    name: str  # a username, "cli:<os user>", "open311:<key id>" or "system"
    person_id: int | None = None


SYSTEM = Actor("system")


@dataclass
class _Pending:
    tag: SessionTransaction | None
    actor: Actor
    action: str
    target_type: str
    target_id: str | None
    cell_id: int | None
    before: Any
    after: Any
    extra: dict[str, Any] = field(default_factory=dict)


def act_as(session: Session, actor: Actor) -> None:
    """Who the session's writes are recorded for (the request's person, the CLI's user)."""
    session.info[ACTOR] = actor


def actor_of(session: Session) -> Actor:
    actor = session.info.get(ACTOR)
    return actor if isinstance(actor, Actor) else SYSTEM


def record(
    session: Session,
    action: str,
    target_type: str,
    target_id: object | None,
    *,
    cell_id: int | None = None,
    before: Any = None,
    after: Any = None,
) -> None:
    """Append an entry when the current transaction commits (dropped if it rolls back)."""
    pending: list[_Pending] = session.info.setdefault(PENDING, [])
    pending.append(
        _Pending(
            session.get_nested_transaction() or session.get_transaction() or session.begin(),
            actor_of(session),
            action,
            target_type,
            None if target_id is None else str(target_id),
            cell_id,
            jsonable(before),
            jsonable(after),
        )
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"cannot put {type(value).__name__} in an audit entry")


def _canon_floats(value: Any) -> Any:
    """Numbers as PostgreSQL's jsonb gives them back, so a stored entry hashes the same."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value == 0:
            return 0.0
        if value.is_integer() and abs(value) >= 1e16:
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: _canon_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canon_floats(v) for v in value]
    return value


_PLAIN = json.JSONEncoder(default=_plain)


class _NotPlain(Exception):
    """A value `_direct` leaves to the JSON round trip (a type it does not know exactly)."""


def _direct(value: Any) -> Any:
    """What `jsonable` gives, without the JSON round trip, for the exact types intake writes
    (str, int, bool, None, float, dicts with str keys, lists, tuples, and `_plain`'s types)."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        return _canon_floats(value)
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            out[key] = _direct(item)
        return out
    if kind is list or kind is tuple:
        return [_direct(item) for item in value]
    if kind in (datetime, date, uuid.UUID, Decimal, set, frozenset):
        return _direct(_plain(value))
    raise _NotPlain


def jsonable(value: Any) -> Any:
    """The value as JSON gives it back (datetimes as ISO-8601 text, tuples as lists, floats as
    jsonb keeps them)."""
    if value is None:
        return None
    try:
        return _direct(value)
    except _NotPlain:
        return _canon_floats(json.loads(_PLAIN.encode(value)))


def canonical(
    *,
    seq: int,
    at: datetime,
    actor: str,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: str | None,
    cell_id: int | None,
    before: Any,
    after: Any,
) -> bytes:
    body = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "actor_id": actor_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "cell_id": cell_id,
        "before": _canon_floats(before),
        "after": _canon_floats(after),
    }
    return _dump(body).encode()


# One encoder for every canonical dump (json.dumps would build a new one per call).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


# orjson writes the same bytes as _CANONICAL (sorted keys, no spaces, text unescaped beyond
# JSON's own escapes) several times faster, except for floats it writes in exponent form or
# with leading zeros (below 1e-4, or from 1e16) and integers beyond 64 bits (it refuses them):
# whatever holds one of those patterns anywhere — in a string too — goes through _CANONICAL.
_ORJSON_DIFFERS = re.compile(rb"\d[eE]|0\.0000")
# Types orjson would write and the json module refuses, or writes otherwise (subclasses of
# str, int, dict, list: enums): refused, so they take the json module's way too.
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _dump(value: Any) -> str:
    try:
        fast = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return _CANONICAL.encode(value)
    if _ORJSON_DIFFERS.search(fast):
        return _CANONICAL.encode(value)
    return fast.decode()


def chain(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


def file_sha256(path: Path) -> str | None:
    """The imported file's SHA-256, so an entry names exactly what was read."""
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _descends(tag: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while tag is not None:
        if tag is ancestor:
            return True
        tag = tag.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    pending: list[_Pending] | None = session.info.get(PENDING)
    if not pending:
        return
    if previous.parent is None:  # the whole transaction is gone, and every entry with it
        session.info[PENDING] = []
    else:
        session.info[PENDING] = [p for p in pending if not _descends(p.tag, previous)]


# Appends the pending entries in one statement: lock the head, chain the entries (each hash
# over the previous hash and the entry's canonical JSON, pieced together around the `at` and
# `seq` that only the locked head decides), insert them, move the head. The head's row lock is
# taken by this, the transaction's last statement, and released by the COMMIT sent with it
# (app/domain/auditcommit.py). Run by psycopg itself: its parameter in psycopg's own style.
_APPEND = """
    WITH RECURSIVE head AS MATERIALIZED (
        SELECT seq, hash, clock_timestamp() + gridwatch_clock_offset() AS at
          FROM audit_head WHERE id = 1 FOR UPDATE
    ), stamp AS MATERIALIZED (
        SELECT at, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') AS iso
          FROM head
    ), entry AS MATERIALIZED (
        SELECT * FROM json_to_recordset(CAST(%(entries)s AS json))
                 AS e(n bigint, head text, middle text, tail text, actor text, actor_id bigint,
                      action text, target_type text, target_id text, cell_id bigint,
                      before text, after text)
    ), piece AS MATERIALIZED (  -- as arrays: the recursion below picks one per step
        SELECT count(*) AS entries, array_agg(head ORDER BY n) AS heads,
               array_agg(middle ORDER BY n) AS middles, array_agg(tail ORDER BY n) AS tails
          FROM entry
    ), chain (n, seq, prev_hash, hash) AS (
        SELECT 0::bigint, seq, NULL::text, hash FROM head
        UNION ALL
        SELECT c.n + 1, c.seq + 1, c.hash,
               encode(sha256(convert_to(c.hash || chr(10) || p.heads[c.n + 1] || s.iso
                                        || p.middles[c.n + 1] || (c.seq + 1)::text
                                        || p.tails[c.n + 1], 'UTF8')), 'hex')
          FROM chain c CROSS JOIN piece p CROSS JOIN stamp s
         WHERE c.n < p.entries
    ), appended AS (
        INSERT INTO audit_log (seq, at, actor, actor_id, action, target_type, target_id,
                               cell_id, before, after, prev_hash, hash)
        SELECT c.seq, s.at, e.actor, e.actor_id, e.action, e.target_type, e.target_id,
               e.cell_id, CAST(e.before AS jsonb), CAST(e.after AS jsonb), c.prev_hash, c.hash
          FROM chain c JOIN entry e ON e.n = c.n CROSS JOIN stamp s
         ORDER BY c.seq
    )
    UPDATE audit_head h SET seq = last.seq, hash = last.hash
      FROM (SELECT seq, hash FROM chain ORDER BY n DESC LIMIT 1) last
     WHERE h.id = 1
    RETURNING h.seq
"""
_START_CHAIN = text(
    "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :genesis) ON CONFLICT DO NOTHING"
)

# Beyond this many entries (an import) the chain is computed here rather than by the statement
# above, whose recursion picks entries out of arrays (each pick walks the array: quadratic;
# 300k entries ran for over 15 minutes). Two statements instead of one: lock the head and read
# its seq, hash and time; then insert the entries chained here and move the head. Linear in the
# entries, but the chain's lock is held across a round trip to this process: below this size
# (an API batch holds at most 500 reports) the one statement costs concurrent writers less.
LARGE_APPEND = 1000
_LOCK_HEAD = text("""
    SELECT seq, hash, clock_timestamp() + gridwatch_clock_offset() AS at
      FROM audit_head WHERE id = 1 FOR UPDATE
""")
_APPEND_CHAINED = text("""
    WITH appended AS (
        INSERT INTO audit_log (seq, at, actor, actor_id, action, target_type, target_id,
                               cell_id, before, after, prev_hash, hash)
        SELECT e.seq, :at, e.actor, e.actor_id, e.action, e.target_type, e.target_id,
               e.cell_id, CAST(e.before AS jsonb), CAST(e.after AS jsonb), e.prev_hash, e.hash
          FROM json_to_recordset(CAST(:entries AS json))
               AS e(seq bigint, actor text, actor_id bigint, action text, target_type text,
                    target_id text, cell_id bigint, before text, after text, prev_hash text,
                    hash text)
         ORDER BY e.seq
    )
    UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1
""")


def pieces(
    *,
    actor: str,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: str | None,
    cell_id: int | None,
    before: Any,
    after: Any,
) -> tuple[str, str, str]:
    """An entry's `canonical` JSON in three pieces around its `at` and `seq`, which only the
    chain's head decides: canonical == (head + ISO-8601 `at` (UTC, µs) + middle + seq +
    tail), UTF-8 encoded."""
    values = {
        "actor": actor,
        "actor_id": actor_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "cell_id": cell_id,
        "before": _canon_floats(before),
        "after": _canon_floats(after),
    }
    return _pieces(values)


def _pieces(values: dict[str, Any]) -> tuple[str, str, str]:
    """`pieces` of canonical values: each of the three groups of members (sorted by name,
    before `at`, between `at` and `seq`, after `seq`) dumped at once."""
    first = _dump({k: v for k, v in values.items() if k < "at"})[1:-1]
    second = _dump({k: v for k, v in values.items() if "at" < k < "seq"})[1:-1]
    third = _dump({k: v for k, v in values.items() if k > "seq"})[1:-1]
    head = "{" + (first + "," if first else "") + '"at":"'
    middle = '"' + ("," + second if second else "") + ',"seq":'
    tail = ("," + third if third else "") + "}"
    return head, middle, tail


def _values(p: _Pending) -> dict[str, Any]:
    """A pending entry's values besides its time, place in the chain and hashes (its before
    and after are canonical already: `record`)."""
    return {
        "actor": p.actor.name,
        "actor_id": p.actor.person_id,
        "action": p.action,
        "target_type": p.target_type,
        "target_id": p.target_id,
        "cell_id": p.cell_id,
        "before": p.before,
        "after": p.after,
    }


def _entry_pieces(p: _Pending) -> tuple[str, str, str]:
    return _pieces(_values(p))


@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    if session.in_nested_transaction() or not session.info.get(PENDING):
        return
    # Flush first: row locks the ORM takes must come before the chain's lock, never after.
    session.flush()
    pending: list[_Pending] = session.info.pop(PENDING)
    if len(pending) > LARGE_APPEND:
        _append_large(session, pending)
        return
    entries = []
    for n, p in enumerate(pending, 1):
        head, middle, tail = _entry_pieces(p)
        entries.append({"n": n, "head": head, "middle": middle, "tail": tail} | _columns(p))
    last = commit_appending(session.connection(), _APPEND, json_param(entries), GENESIS)
    session.info[ASSIGNED] = list(range(last - len(pending) + 1, last + 1))


def _columns(p: _Pending) -> dict[str, Any]:
    """The entry's values as the append statements read them (before and after as JSON text)."""
    return _values(p) | {"before": json_param(p.before), "after": json_param(p.after)}


def _append_large(session: Session, pending: list[_Pending]) -> None:
    """The pending entries chained here (see LARGE_APPEND), hashed exactly as `_APPEND` does;
    all but the hashes is built before the chain's lock is taken."""
    built = [(_entry_pieces(p), _columns(p)) for p in pending]
    seq, prev, at = lock_head(session)
    iso = at.astimezone(UTC).isoformat(timespec="microseconds")
    entries = []
    for (head, middle, tail), entry in built:
        seq += 1
        digest = chain(prev, (head + iso + middle + str(seq) + tail).encode())
        entries.append(entry | {"seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    session.connection().execute(
        _APPEND_CHAINED, {"entries": json_param(entries), "at": at, "seq": seq, "hash": prev}
    )
    session.info[ASSIGNED] = list(range(seq - len(pending) + 1, seq + 1))


def head(session: Session) -> tuple[int, str]:
    """The chain's latest (seq, hash); (0, GENESIS) when empty."""
    row = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    return (row.seq, row.hash) if row else (0, GENESIS)


def last_assigned(session: Session) -> list[int]:
    """The sequence numbers this session's latest commit appended, in order."""
    return list(session.info.get(ASSIGNED, []))


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the audit API and the dossiers show it."""
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "target": (
            f"{entry.target_type}:{entry.target_id}" if entry.target_id else entry.target_type
        ),
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "before": entry.before,
        "after": entry.after,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def canonical_json(value: Any) -> str:
    """`value` (JSON-able: `jsonable`'s output) as `canonical` writes it inside an entry: the
    historical import builds its entries' JSON in SQL around this text."""
    return _dump(_canon_floats(value))


def lock_head(session: Session) -> tuple[int, str, datetime]:
    """Lock the chain's head for appending (started if empty): its (seq, hash, at), `at` the
    time the entries appended under this lock take. The commit-time work (the deferred
    roll-up) is settled first, so the head is not held for it. For appends of many entries
    chained outside the one-statement append (`_append_large`, the historical import's SQL);
    they then move the head as `_APPEND_CHAINED` does."""
    conn = session.connection()
    conn.exec_driver_sql(SETTLE)
    row = conn.execute(_LOCK_HEAD).first()
    if row is None:
        conn.execute(_START_CHAIN, {"genesis": GENESIS})
        row = conn.execute(_LOCK_HEAD).one()
    return row.seq, row.hash, row.at
