"""The audit log: list entries (scoped, newest first, keyset-paged) and verify the chain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, select

from app import clock
from app.api.deps import Accountable
from app.api.params import Instant
from app.db import SessionDep
from app.domain import audit
from app.domain.accountability.verify import FULL_VERIFIERS, verify
from app.domain.errors import Forbidden
from app.domain.people.scope import visible
from app.models import AuditEntry

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("")
def list_entries(
    session: SessionDep,
    viewer: Accountable,
    target: Annotated[
        str | None,
        Query(max_length=200, description="`type:id` (e.g. `hotspot:<uuid>`) or just an id"),
    ] = None,
    actor: Annotated[str | None, Query(max_length=100, description="a username")] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="e.g. hotspot.transition")
    ] = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**62, description="only entries older than this seq")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Entries newest first. Page with `before=<next_before>` (keyset: fast at any depth)."""
    conditions: list[ColumnElement[bool]] = [visible(viewer, AuditEntry)]
    if target:
        kind, sep, ident = target.partition(":")
        if sep:
            conditions += [AuditEntry.target_type == kind, AuditEntry.target_id == ident]
        else:
            conditions.append(AuditEntry.target_id == target)
    if actor:
        conditions.append(AuditEntry.actor == actor)
    if action:
        conditions.append(AuditEntry.action == action)
    if from_ is not None:
        conditions.append(AuditEntry.at >= from_)
    if to is not None:
        conditions.append(AuditEntry.at < to)
    if before is not None:
        conditions.append(AuditEntry.seq < before)
    rows = list(
        session.scalars(
            select(AuditEntry).where(*conditions).order_by(AuditEntry.seq.desc()).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "entries": [audit.entry_json(e) for e in rows],
        "next_before": rows[-1].seq if more else None,
    }


@router.get("/verify")
def verify_chain(
    session: SessionDep,
    viewer: Accountable,
    full: Annotated[
        bool,
        Query(description="recompute from the first entry, past every checkpoint (admin)"),
    ] = False,
) -> dict[str, Any]:
    """Recompute the hash chain from the newest verified checkpoint (`checked_from`), or
    from the first entry with `full=true`. `ok` false names the first broken entry and why."""
    if full and viewer.role not in FULL_VERIFIERS:
        raise Forbidden(
            f"full=true: re-verifying the whole chain is for {', '.join(FULL_VERIFIERS)}"
        )
    verdict = verify(session, full=full)
    return verdict.as_dict() | {"checked_at": clock.now().astimezone().isoformat()}
