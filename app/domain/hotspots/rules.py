"""Who may open a case of which source, where and from which report, and who may be given one
(SPEC §4, §7). app/domain/hotspots/cases.py applies these rules to every channel alike: the API,
Open311 and the demo city.

- A `patrol` case comes from the creator's own `issue` report, in a cell they held a duty on
  when they made it; inspectors, leaders and supervisors file them.
- `inspection`, `complaint`, `fire_point` and `monitoring` cases come from outside the grid;
  only the officers who run cases file them (supervisor, command office: within their scope;
  admin: anywhere), and the public-complaint channels (Open311) file `complaint` cases.
- A case linked to a report lies near that report and in its author's cells, and was not
  found before the report saw it: otherwise a case could be planted anywhere, back-dated,
  and counted as a lapse ("missed by the grid") of someone else's cell.
- A case goes to a person on duty in its cell, or to a supervisor or command officer whose
  scope covers the cell; never to discipline, who judge the cases, nor to a disabled account.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, text
from sqlalchemy.orm import Session, aliased

from app.config import get_settings
from app.domain.errors import DomainError, Forbidden, Unprocessable
from app.domain.people.scope import Viewer, duty_active_at, holds_duty, oversees
from app.models import Cell, Duty, Person, Report, UserAccount

PATROL = "patrol"
PATROL_CREATORS = ("inspector", "leader", "supervisor")
OFFICIAL_SOURCES = ("inspection", "complaint", "fire_point", "monitoring")
OFFICIAL_CREATORS = ("supervisor", "command", "admin")
CHANNEL_SOURCES = ("complaint",)  # what an external channel (Open311) may file
# Assignees not on duty in the cell: officers whose scope covers it. (A leader's cells are
# their duties, so a leader qualifies through the duty itself.)
SCOPED_ASSIGNEES = ("supervisor", "command")
NEVER_ASSIGNED = ("discipline",)


def _listing(names: tuple[str, ...]) -> str:
    return ", ".join(names)


def check_source_role(viewer: Viewer | None, source: str) -> None:
    """May this role (or an external channel, `viewer` None) open a case of this source?"""
    if viewer is None:
        if source not in CHANNEL_SOURCES:
            raise Forbidden(
                f"source: an external channel files only {_listing(CHANNEL_SOURCES)} cases, "
                f"not {source!r}"
            )
        return
    if source == PATROL:
        if viewer.role not in PATROL_CREATORS:
            raise Forbidden(
                f"source: role {viewer.role!r} may not open a 'patrol' case; an inspector, "
                "leader or supervisor opens one from their own `issue` report"
            )
        return
    if viewer.role not in OFFICIAL_CREATORS:
        raise Forbidden(
            f"source: role {viewer.role!r} may not open {source!r} cases; only a supervisor, "
            "the command office or an admin may (a grid member opens a 'patrol' case from "
            "their own `issue` report)"
        )


def check_official_scope(session: Session, viewer: Viewer | None, cell_id: int | None) -> None:
    """An officer files a case from outside the grid only within their scope."""
    if viewer is not None and not oversees(session, viewer, cell_id):
        raise Forbidden("lat/lon: this position lies outside your scope")


def check_patrol_report(viewer: Viewer | None, report: Report | None) -> Report:
    if report is None or report.kind != "issue":
        raise DomainError("report_id: a 'patrol' case needs report_id of an `issue` report")
    if viewer is None or report.reporter_id != viewer.person_id:
        raise Forbidden("report_id: a 'patrol' case comes from one's own `issue` report")
    return report


_DISTANCE = text("""
    SELECT ST_Distance(r.geom::geography,
                       ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)
      FROM reports r WHERE r.id = :report_id
""")


def check_report_link(
    session: Session, report: Report, cell_id: int | None, lon: float, lat: float
) -> None:
    """A case from a report lies within the set distance of the report's point (geodesic) and
    in a cell the report's author held a duty on when the report was made."""
    radius = get_settings().hotspot_report_radius_m
    distance = session.scalar(_DISTANCE, {"lon": lon, "lat": lat, "report_id": report.id})
    if distance is None or distance > radius:
        raise Unprocessable(
            f"lat/lon: the case lies {distance or 0:.0f} m from report {report.id}; a case "
            f"from a report lies within {radius:g} m of the report's point"
        )
    if cell_id is None or not holds_duty(session, report.reporter_id, cell_id, report.observed_at):
        raise Forbidden(
            "lat/lon: the case lies outside the cells the report's author held a duty on "
            f"at the report's observed_at ({report.observed_at.isoformat()})"
        )


def found_at_for(found_at: datetime | None, report: Report | None, now: datetime) -> datetime:
    """When the case was found: as given, else now (or the report's time, if later). Never in
    the future (within the tolerance reports get) nor before the report that found it."""
    if found_at is None:
        found_at = max(now, report.observed_at) if report is not None else now
    if found_at > now + timedelta(minutes=get_settings().future_tolerance_minutes):
        raise Unprocessable(f"found_at: {found_at.isoformat()} lies in the future")
    if report is not None and found_at < report.observed_at:
        raise Unprocessable(
            f"found_at: {found_at.isoformat()} is before the linked report's observed_at "
            f"({report.observed_at.isoformat()}); a case is not found before the report that "
            "saw it"
        )
    return found_at


def assignable(cell_id: int | None, at: datetime) -> ColumnElement[bool]:
    """Who a case in this cell may go to at `at`, as a condition on `Person`: someone on duty
    in the cell then, or a supervisor or command officer whose scope covers the cell (as
    scope.oversees has it); never discipline, never a disabled account. The dispatch check
    and the desk's list of assignees both ask this."""
    if cell_id is None:
        on_duty: ColumnElement[bool] = false()
        covers: ColumnElement[bool] = Person.scope_cell_id.is_(None)
    else:
        on_duty = Person.id.in_(
            select(Duty.person_id).where(Duty.cell_id == cell_id, duty_active_at(at))
        )
        target, scope = aliased(Cell), aliased(Cell)
        covering = (
            select(scope.id)
            .join(target, target.path.op("<@")(scope.path))
            .where(target.id == cell_id)
        )
        covers = or_(Person.scope_cell_id.is_(None), Person.scope_cell_id.in_(covering))
    disabled = exists().where(UserAccount.person_id == Person.id, UserAccount.is_active.is_(False))
    return and_(
        Person.role.not_in(NEVER_ASSIGNED),
        ~disabled,
        or_(on_duty, and_(Person.role.in_(SCOPED_ASSIGNEES), covers)),
    )


def eligible_assignees(session: Session, cell_id: int | None, at: datetime) -> list[Person]:
    """Everyone `check_assignee` accepts for a case in this cell at `at`, by username."""
    return list(
        session.scalars(select(Person).where(assignable(cell_id, at)).order_by(Person.username))
    )


def check_assignee(session: Session, person: Person, cell_id: int | None, at: datetime) -> None:
    """A case goes to someone on duty in its cell at `at`, or to a supervisor or command
    officer whose scope covers the cell; never to discipline, nor to a disabled account."""
    if person.role in NEVER_ASSIGNED:
        raise Unprocessable(
            f"assignee: {person.username!r} has role {person.role!r}, which judges cases and "
            "is never given one"
        )
    if session.scalar(select(exists().where(Person.id == person.id, assignable(cell_id, at)))):
        return
    account = session.get(UserAccount, person.id)
    if account is not None and not account.is_active:
        raise Unprocessable(f"assignee: {person.username!r} has a disabled account")
    where = "outside every cell"
    if cell_id is not None:
        where = f"cell {session.get_one(Cell, cell_id).code}"
    raise Unprocessable(
        f"assignee: {person.username!r} is neither on duty in the case's cell ({where}) now "
        "nor a supervisor or command officer whose scope covers it"
    )
