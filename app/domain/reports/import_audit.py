"""The historical import's `report.create` audit entries, written in SQL from its staging
table (app/domain/reports/staging.py): one per new report, byte for byte the entries
`audit.record` would have appended. Python writes an entry's canonical JSON once, with
placeholders where each report's values go (`audit.pieces`, `audit.canonical_json`); SQL
fills them in for every report (`_SQL_VALUES`) and chains the SHA-256s as `audit.chain`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from app.domain import audit
from app.domain.reports.queries import NewReport
from app.domain.reports.review import report_facts

# A value of the entry, written by SQL where Python's canonical JSON has a placeholder: a
# string "\x01name\x01" (dumped as "\u0001name\u0001"; a one-element list for the flags).
_MARK = "\x01"
_PLACEHOLDER = re.compile(r'\["\\u0001(\w+)\\u0001"\]|"\\u0001(\w+)\\u0001"|\x02(\w+)\x02')


def _float(column: str) -> str:
    """A float8 as Python's json writes the float (`repr`; PostgreSQL's shortest text for the
    same double, with the ".0" Python keeps on whole numbers; 0.0 for ±0 as `_canon_floats`).
    The values imported (coordinates, accuracy ≤ 1e6) never take Python's exponent form for
    large numbers; small ones are written alike ("1e-05")."""
    return (
        f"CASE WHEN {column} IS NULL THEN 'null' WHEN {column} = 0 THEN '0.0' "
        f"WHEN {column}::text ~ '^-?[0-9]+$' THEN {column}::text || '.0' "
        f"ELSE {column}::text END"
    )


def _instant(column: str) -> str:
    """A timestamptz as `jsonable` writes a datetime: ISO-8601 in UTC, microseconds if any."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"""'"' || to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS') """
        f"""|| CASE WHEN to_char({utc}, 'US') = '000000' THEN '' """
        f"""ELSE '.' || to_char({utc}, 'US') END || '+00:00"'"""
    )


def _text(column: str) -> str:
    return f"coalesce(to_json({column})::text, 'null')"


# Each placeholder's JSON, from a row `d` of import_decided (and `seq`, `after` built here).
_SQL_VALUES = {
    "reporter_id": "d.person_id::text",
    "kind": _text("d.kind"),
    "category": _text("d.category"),
    "description": _text("d.description"),
    "lat": _float("d.lat"),
    "lon": _float("d.lon"),
    "accuracy_m": _float("d.accuracy_m"),
    "observed_at": _instant("d.observed_at"),
    "cell_id": "coalesce(d.cell_id::text, 'null')",
    "flags": "array_to_json(d.flags)::text",
    "counted": "d.counted::text",
    "target_id": "to_json(d.id::text)::text",
    "after": "after",
    "at": "CAST(:at_iso AS text)",
    "seq": "seq::text",
}


def _placeholder(name: str) -> str:
    return f"{_MARK}{name}{_MARK}"


def _as_sql(template: str, prefix: str, params: dict[str, str]) -> str:
    """A SQL expression writing `template` with its placeholders' values (the literal pieces
    as bound parameters named `prefix<k>`, added to `params`)."""
    parts: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        literal = template[pos : match.start()]
        if literal:
            params[f"{prefix}{len(params)}"] = literal
            parts.append(f"CAST(:{prefix}{len(params) - 1} AS text)")
        parts.append(f"({_SQL_VALUES[next(g for g in match.groups() if g)]})")
        pos = match.end()
    if template[pos:]:
        params[f"{prefix}{len(params)}"] = template[pos:]
        parts.append(f"CAST(:{prefix}{len(params) - 1} AS text)")
    return " || ".join(parts)


def _templates(actor: audit.Actor, received_at: datetime, origin: str) -> tuple[str, str]:
    """The `after` of a report's entry and the whole entry's canonical JSON, as Python writes
    them, with placeholders where each report's values go."""
    fields = "reporter_id kind category description lat lon accuracy_m observed_at cell_id counted"
    sample: Any = {name: _placeholder(name) for name in fields.split()}
    mark: Any = _placeholder
    facts = report_facts(
        NewReport(
            **sample,
            id=mark("target_id"),
            received_at=received_at,
            source_id=None,
            flags=[_placeholder("flags")],
            body_hash="",
            origin=origin,
        )
    )
    after = audit.canonical_json(audit.jsonable(facts))
    head, middle, tail = audit.pieces(
        actor=actor.name,
        actor_id=actor.person_id,
        action="report.create",
        target_type="report",
        target_id=_placeholder("target_id"),
        cell_id=mark("cell_id"),
        before=None,
        after=_placeholder("after"),
    )
    return after, head + "\x02at\x02" + middle + "\x02seq\x02" + tail


# Chains the entries in SQL: an aggregate run as a window over the entries in `seq` order,
# each hash over the previous one (the head's for the first) and the entry's canonical JSON,
# as audit.chain.
_CHAIN_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION pg_temp.gridwatch_chain_step(prev text, start text, body text)
       RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
           SELECT encode(sha256(convert_to(coalesce(prev, start) || chr(10) || body, 'UTF8')),
                         'hex')
       $$""",
    """CREATE OR REPLACE AGGREGATE pg_temp.gridwatch_chain(text, text)
       (sfunc = pg_temp.gridwatch_chain_step, stype = text)""",
)
# Temporary objects live as long as the server session: dropped in the transaction that made
# them (a pooled connection, or PgBouncer in transaction mode, serves the next transaction).
_DROP_CHAIN_FUNCTIONS = (
    "DROP AGGREGATE pg_temp.gridwatch_chain(text, text)",
    "DROP FUNCTION pg_temp.gridwatch_chain_step(text, text, text)",
)
_APPEND = """
    WITH entry AS (
        SELECT d.n, CAST(:seq0 AS bigint) + d.n AS seq, d.id, d.cell_id, {after} AS after
          FROM import_decided d
    ), body AS (
        SELECT e.seq, e.id, e.cell_id, e.after, {body} AS body
          FROM entry e JOIN import_decided d USING (n)
    ), chained AS (
        SELECT seq, id, cell_id, after,
               pg_temp.gridwatch_chain(CAST(:start AS text), body) OVER (ORDER BY seq) AS hash
          FROM body
    ), appended AS (
        INSERT INTO audit_log (seq, at, actor, actor_id, action, target_type, target_id,
                               cell_id, before, after, prev_hash, hash)
        SELECT seq, CAST(:at AS timestamptz), CAST(:actor AS text), CAST(:actor_id AS bigint),
               'report.create', 'report', id::text, cell_id,
               CAST('null' AS jsonb), CAST(after AS jsonb),
               coalesce(lag(hash) OVER (ORDER BY seq), CAST(:start AS text)), hash
          FROM chained ORDER BY seq
        RETURNING seq, hash
    )
    UPDATE audit_head h SET seq = last.seq, hash = last.hash
      FROM (SELECT seq, hash FROM appended ORDER BY seq DESC LIMIT 1) last
     WHERE h.id = 1
"""


def append_audit(session: Session, received_at: datetime, origin: str) -> None:
    """One `report.create` entry per new report, chained after the head (locked here, until
    the commit), byte for byte the entries `audit.record` would have appended."""
    actor = audit.actor_of(session)
    after, body = _templates(actor, received_at, origin)
    params: dict[str, Any] = {}
    statement = _APPEND.format(after=_as_sql(after, "a", params), body=_as_sql(body, "b", params))
    for sql in _CHAIN_FUNCTIONS:
        session.execute(text(sql))
    seq, start, at = audit.lock_head(session)
    params |= {
        "seq0": seq,
        "start": start,
        "at": at,
        "at_iso": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor.name,
        "actor_id": actor.person_id,
    }
    session.execute(
        text(statement).bindparams(*(bindparam(k) for k in params)),
        params,
    )
    for sql in _DROP_CHAIN_FUNCTIONS:
        session.execute(text(sql))
