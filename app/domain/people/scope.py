"""Who may see what (SPEC §3, §7): one rule per resource, as an SQL condition that every list
and every single read of that resource uses. A single read is the same condition plus the
row's key, so a list and a read can never disagree; a row out of scope is answered exactly as
a missing one (NotFound, same words), so ids cannot be probed for existence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, exists, inspect, or_, select, true
from sqlalchemy.orm import Session

from app import clock
from app.domain.errors import NotFound
from app.models import AuditEntry, Cell, Duty, Hotspot, Person, Photo, Report, Source

SCOPED_ROLES = ("supervisor", "command", "discipline")
DUTY_ROLES = ("inspector", "leader")

# The resources with a visibility rule, and how a missing one is named.
Seen = TypeVar("Seen", Cell, Report, Photo, Hotspot, Source, AuditEntry)
NOUNS: dict[type[Any], str] = {
    Cell: "cell",
    Report: "report",
    Photo: "photo",
    Hotspot: "hotspot",
    Source: "pollution source",
    AuditEntry: "audit entry",
}


@dataclass(frozen=True)
class Viewer:
    person_id: int
    username: str
    role: str
    scope_cell_id: int | None

    @classmethod
    def of(cls, person: Person) -> Viewer:
        return cls(person.id, person.username, person.role, person.scope_cell_id)


def duty_active_at(at: datetime) -> ColumnElement[bool]:
    return and_(
        or_(Duty.valid_from.is_(None), Duty.valid_from <= at),
        or_(Duty.valid_to.is_(None), Duty.valid_to > at),
    )


def sees_everything(viewer: Viewer) -> bool:
    return viewer.role == "admin" or (viewer.role in SCOPED_ROLES and viewer.scope_cell_id is None)


# The column placing each resource in a cell, and the columns naming the people it is their own.
_CELL_AND_OWNERS: dict[type[Any], tuple[Any, tuple[Any, ...]]] = {
    Report: (Report.cell_id, (Report.reporter_id,)),
    Hotspot: (Hotspot.cell_id, (Hotspot.assignee_id, Hotspot.created_by_id)),
    Source: (Source.cell_id, (Source.surveyed_by_id,)),
    AuditEntry: (AuditEntry.cell_id, ()),
}


def visible(viewer: Viewer, model: type[Any], *, personal: bool = True) -> ColumnElement[bool]:
    """The condition on `model` that holds for the rows `viewer` may see.

    Admins and unscoped officers see everything. Otherwise a row is seen through its cell —
    a scoped officer's subtree, an inspector's or leader's cells on duty now — and, with
    `personal`, wherever it lies if it is the viewer's own: the reports they filed, the cases
    they opened or were assigned, the sources they surveyed. Dossiers go by scope only
    (`personal=False`). A photo is seen with its report; an audit entry about no cell (users,
    grid imports) by the unscoped only."""
    if model is Cell:
        return _cells(viewer)
    if sees_everything(viewer):
        return true()
    if model is Photo:
        return Photo.report_id.in_(
            select(Report.id).where(visible(viewer, Report, personal=personal))
        )
    cell_id, own = _CELL_AND_OWNERS[model]
    in_scope = cell_id.in_(select(Cell.id).where(_cells(viewer)))
    if not personal or not own:
        return in_scope
    return or_(in_scope, *(column == viewer.person_id for column in own))


def _cells(viewer: Viewer) -> ColumnElement[bool]:
    if sees_everything(viewer):
        return true()
    if viewer.role in SCOPED_ROLES:
        scope_path = select(Cell.path).where(Cell.id == viewer.scope_cell_id).scalar_subquery()
        return Cell.path.op("<@")(scope_path)
    on_duty = select(Duty.cell_id).where(
        Duty.person_id == viewer.person_id, duty_active_at(clock.now())
    )
    return Cell.id.in_(on_duty)


def _key(model: type[Any]) -> Any:
    return inspect(model).primary_key[0]


def can_see(
    session: Session, viewer: Viewer, model: type[Any], ident: Any, *, personal: bool = True
) -> bool:
    """Whether `viewer` sees the row `ident` of `model` (False also when there is none)."""
    condition = and_(_key(model) == ident, visible(viewer, model, personal=personal))
    return bool(session.scalar(select(exists().where(condition))))


def find_visible(
    session: Session,
    viewer: Viewer,
    model: type[Seen],
    ident: Any,
    *,
    personal: bool = True,
    lock: bool = False,
) -> Seen | None:
    """The row, if there is one and `viewer` sees it; `lock`: FOR UPDATE, read afresh."""
    stmt = select(model).where(_key(model) == ident, visible(viewer, model, personal=personal))
    if lock:
        stmt = stmt.with_for_update(of=model).execution_options(populate_existing=True)
    return session.scalar(stmt)


def get_visible(
    session: Session,
    viewer: Viewer,
    model: type[Seen],
    ident: Any,
    *,
    personal: bool = True,
    lock: bool = False,
) -> Seen:
    """The row, or NotFound in the same words whether it is missing or out of scope."""
    found = find_visible(session, viewer, model, ident, personal=personal, lock=lock)
    if found is None:
        raise NotFound(f"no {NOUNS[model]} with id {ident}")
    return found


def visible_cell(session: Session, viewer: Viewer, code: str) -> Cell:
    """The cell with this code, if the viewer may see it (else NotFound, as for a missing
    code)."""
    found = session.scalar(select(Cell).where(Cell.code == code, visible(viewer, Cell)))
    if found is None:
        raise NotFound(f"no cell with code {code!r}")
    return found


def holds_duty(session: Session, person_id: int, cell_id: int, at: datetime | None = None) -> bool:
    return (
        session.scalar(
            select(Duty.id).where(
                Duty.person_id == person_id,
                Duty.cell_id == cell_id,
                duty_active_at(at or clock.now()),
            )
        )
        is not None
    )


def oversees(session: Session, viewer: Viewer, cell_id: int | None) -> bool:
    """Judging/managing rights over a cell: admin anywhere, supervisor/command within scope
    (unscoped: everywhere, also outside every cell), leader on cells they hold a duty on."""
    if viewer.role == "admin":
        return True
    if viewer.role in ("supervisor", "command"):
        if cell_id is None:
            return viewer.scope_cell_id is None
        return can_see(session, viewer, Cell, cell_id)
    if viewer.role == "leader" and cell_id is not None:
        return holds_duty(session, viewer.person_id, cell_id)
    return False
