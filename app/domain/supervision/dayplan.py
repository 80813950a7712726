"""An inspector's plan of the day (今日待巡): the cells they are on duty for, and the ledger
sources in them, that fall due before the day ends — overdue ones first — in walking order
from where they stand. The phone (GET /api/v1/plan) and `gridwatch plan USER` print the same
plan from here. An item leaves the plan when a counted patrol covers it (the summaries move);
a voided report moves nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock, rules
from app.domain.errors import NotFound, Unprocessable
from app.domain.people.scope import duty_active_at
from app.domain.supervision import routes
from app.domain.supervision.due import DueItem, due_items
from app.domain.supervision.gaps import Selection
from app.domain.timeparse import local_zone
from app.models import Duty, Person

MAX_STOPS = 200


@dataclass(frozen=True)
class PlanStop:
    order: int
    item: DueItem
    leg_m: float  # from the previous stop (the first: from the start, when given)


@dataclass(frozen=True)
class DayPlan:
    username: str
    name: str
    day: date
    now: datetime
    until: datetime
    start: routes.Point | None
    stops: list[PlanStop]
    truncated: bool

    @property
    def route_m(self) -> float:
        return sum(s.leg_m for s in self.stops)

    def as_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "name": self.name,
            "date": self.day.isoformat(),
            "as_of": self.now.isoformat(),
            "until": self.until.isoformat(),
            "start": {"lon": self.start[0], "lat": self.start[1]} if self.start else None,
            "route_m": round(self.route_m),
            "truncated": self.truncated,
            "items": [
                s.item.as_dict(self.now) | {"order": s.order, "leg_m": round(s.leg_m)}
                for s in self.stops
            ],
        }


def end_of_day(day: date) -> datetime:
    """The first instant after `day`, local time (GRIDWATCH_TIMEZONE)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=local_zone())


def walking_order(
    items: list[DueItem], now: datetime, start: routes.Point | None
) -> list[PlanStop]:
    """Overdue items first, as a route from `start`; then the rest, as a route on from the
    last overdue one."""
    overdue = [i for i in items if i.overdue(now)]
    later = [i for i in items if not i.overdue(now)]
    ordered: list[DueItem] = []
    here = start
    for group in (overdue, later):
        ordered += [group[k] for k in routes.order([(i.lon, i.lat) for i in group], here)]
        if ordered:
            here = (ordered[-1].lon, ordered[-1].lat)
    stops = []
    previous = start
    for n, item in enumerate(ordered, 1):
        point = (item.lon, item.lat)
        leg = routes.distance_m(previous, point) if previous is not None else 0.0
        stops.append(PlanStop(n, item, leg))
        previous = point
    return stops


def person_named(session: Session, username: str) -> Person:
    person = session.scalar(select(Person).where(Person.username == username))
    if person is None:
        raise NotFound(f"no user {username!r}")
    return person


def day_plan(
    session: Session,
    person: Person,
    *,
    day: date | None = None,
    start: routes.Point | None = None,
) -> DayPlan:
    """`person`'s plan for `day` (default today, local time): what falls due before it ends
    in the cells they are on duty for now, overdue first, in walking order from `start`."""
    now = clock.now()
    today = now.astimezone(local_zone()).date()
    day = day or today
    if day < today:
        raise Unprocessable(f"date: {day.isoformat()} is past; a plan is for today or later")
    if day > today + timedelta(days=31):
        raise Unprocessable("date: a plan looks at most 31 days ahead")
    if start is not None and not (-180 <= start[0] <= 180 and -90 <= start[1] <= 90):
        raise Unprocessable("lat/lon: the start is not on the globe")
    cells = list(
        session.scalars(
            select(Duty.cell_id).where(
                Duty.person_id == person.id,
                Duty.duty.in_(rules.PATROL_DUTIES),  # a 监督员's cells are not theirs to walk
                duty_active_at(now),
            )
        )
    )
    until = end_of_day(day)
    found = due_items(session, Selection(None, cells), until, now=now, limit=MAX_STOPS)
    return DayPlan(
        username=person.username,
        name=person.name or person.username,
        day=day,
        now=now,
        until=until,
        start=start,
        stops=walking_order(found.items, now, start),
        truncated=found.truncated,
    )
