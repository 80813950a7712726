"""What falls due: cells and sources about to run out (SPEC §6 /due), the signed-in person's
plan of the day, and the cells at risk (the desk panel and the map layer)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from app.api.deps import CurrentViewer
from app.api.params import Within
from app.db import ReadSessionDep
from app.domain.supervision.dayplan import day_plan, person_named
from app.domain.supervision.due import (
    MAX_HOURS,
    MAX_ITEMS,
    at_risk_geojson,
    at_risk_panel,
    due_within,
)
from app.domain.supervision.gaps import selection_for

router = APIRouter(prefix="/api/v1", tags=["due"])
Hours = Annotated[float, Query(ge=0, le=MAX_HOURS, allow_inf_nan=False)]


@router.get("/due")
def due(
    session: ReadSessionDep,
    viewer: CurrentViewer,
    within: Within = None,
    hours: Hours = 24,
    limit: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 500,
) -> dict[str, Any]:
    """Cells and ledger sources whose requirement runs out within `hours`, soonest first —
    the overdue (never patrolled included) at the top — each with who is on duty now. An
    inspector or leader sees their own cells; officers their scope (SPEC §7)."""
    selection = selection_for(session, viewer, within)
    return due_within(session, selection, hours, limit=limit).as_dict()


@router.get("/plan")
def plan_of_the_day(
    session: ReadSessionDep,
    viewer: CurrentViewer,
    lat: Annotated[float | None, Query(ge=-90, le=90, allow_inf_nan=False)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, allow_inf_nan=False)] = None,
    date_: Annotated[date | None, Query(alias="date")] = None,
) -> dict[str, Any]:
    """The signed-in person's plan (今日待巡): their cells and sources due before the day
    ends, overdue first, as a walking route from (lat, lon) when given."""
    if (lat is None) != (lon is None):
        raise HTTPException(422, detail="lat and lon: give both, or neither")
    start = (lon, lat) if lon is not None and lat is not None else None
    person = person_named(session, viewer.username)
    return day_plan(session, person, day=date_, start=start).as_dict()


@router.get("/at-risk")
def at_risk(
    session: ReadSessionDep,
    viewer: CurrentViewer,
    within: Within = None,
    hours: Annotated[float | None, Query(gt=0, le=MAX_HOURS, allow_inf_nan=False)] = None,
    format: Literal["json", "geojson"] = "json",
) -> dict[str, Any]:
    """Cells not yet lapsed whose patrol requirement runs out within `hours` (default
    GRIDWATCH_AT_RISK_HOURS): by district and leader, or as GeoJSON for the map."""
    selection = selection_for(session, viewer, within)
    if format == "geojson":
        return at_risk_geojson(session, selection, hours)
    return at_risk_panel(session, selection, hours)
