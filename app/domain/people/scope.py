"""Who may see which cells (SPEC §3, §7), as SQL conditions every query can reuse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from app import clock
from app.domain.errors import NotFound
from app.models import Cell, Duty, Person, Report

SCOPED_ROLES = ("supervisor", "command", "discipline")
DUTY_ROLES = ("inspector", "leader")


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


def visible_cells(viewer: Viewer, at: datetime | None = None) -> ColumnElement[bool]:
    """A condition on `Cell` that holds for the cells `viewer` may see."""
    if sees_everything(viewer):
        return true()
    if viewer.role in SCOPED_ROLES:
        scope_path = select(Cell.path).where(Cell.id == viewer.scope_cell_id).scalar_subquery()
        return Cell.path.op("<@")(scope_path)
    on_duty = select(Duty.cell_id).where(
        Duty.person_id == viewer.person_id, duty_active_at(at or clock.now())
    )
    return Cell.id.in_(on_duty)


def can_see_cell(session: Session, viewer: Viewer, cell_id: int) -> bool:
    return bool(session.scalar(select(Cell.id).where(Cell.id == cell_id, visible_cells(viewer))))


def visible_cell(session: Session, viewer: Viewer, code: str) -> Cell:
    """The cell, if the viewer may see it. A cell out of scope is answered exactly as a
    missing one (NotFound, same words), so codes cannot be probed for existence."""
    from app.domain.grid.cells import get_cell

    cell = get_cell(session, code)
    if not can_see_cell(session, viewer, cell.id):
        raise NotFound(f"no cell with code {code!r}")
    return cell


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
        return can_see_cell(session, viewer, cell_id)
    if viewer.role == "leader" and cell_id is not None:
        return holds_duty(session, viewer.person_id, cell_id)
    return False


def can_see_report(session: Session, viewer: Viewer, report: Report) -> bool:
    """The reporter, whoever sees the report's cell, and the unscoped see a report."""
    if report.reporter_id == viewer.person_id or sees_everything(viewer):
        return True
    return report.cell_id is not None and can_see_cell(session, viewer, report.cell_id)
