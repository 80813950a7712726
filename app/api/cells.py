"""Cells: list (JSON or GeoJSON, paged, scope-limited), detail with roster, point lookup."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import func, literal, select
from sqlalchemy.orm import aliased

from app import clock
from app.api.deps import ACCOUNTABLE_ROLES, CurrentViewer
from app.api.params import AsOf
from app.db import ReadSessionDep, SessionDep
from app.domain.grid.cells import get_cell, leaf_cell_at
from app.domain.grid.crs import CHINESE_WEB_DATUMS, point_to_wgs84
from app.domain.people.scope import can_see, duty_active_at, visible, visible_cell
from app.domain.supervision import card
from app.domain.supervision.coverage import REACH_M, coverage
from app.models import Cell, Duty, Person
from app.models.base import LTree
from app.schemas.cells import CellAtPoint, CellDetail, CellOut, CellPage, DutyOut

router = APIRouter(prefix="/api/v1/cells", tags=["cells"])

Parent = aliased(Cell)
CELL_COLUMNS = (
    Cell.code,
    Cell.name,
    Cell.level,
    Parent.code.label("parent_code"),
    Cell.is_leaf,
    Cell.risk,
    Cell.patrol_interval_hours,
    Cell.valid_from,
    Cell.valid_to,
    Cell.area_m2,
)


def _cell_out(row: Any) -> CellOut:
    return CellOut(**{k: getattr(row, k) for k in CellOut.model_fields})


@router.get("", response_model=None)
def list_cells(
    session: SessionDep,
    viewer: CurrentViewer,
    within: Annotated[str | None, Query(description="a cell code: only its subtree")] = None,
    leaf: Annotated[bool | None, Query(description="true: unit cells only")] = None,
    level: Annotated[int | None, Query(ge=1, le=20)] = None,
    format: Literal["json", "geojson"] = "json",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CellPage | dict[str, Any]:
    conditions = [visible(viewer, Cell)]
    if within is not None:
        root = get_cell(session, within)
        conditions.append(Cell.path.op("<@")(literal(root.path, LTree)))
    if leaf is not None:
        conditions.append(Cell.is_leaf.is_(leaf))
    if level is not None:
        conditions.append(Cell.level == level)
    total = session.scalar(select(func.count()).select_from(Cell).where(*conditions)) or 0
    columns = list(CELL_COLUMNS)
    if format == "geojson":
        columns.append(func.ST_AsGeoJSON(Cell.geom, 7).label("geometry"))
    rows = session.execute(
        select(*columns)
        .outerjoin(Parent, Parent.id == Cell.parent_id)
        .where(*conditions)
        .order_by(Cell.code)
        .limit(limit)
        .offset(offset)
    ).all()
    next_offset = offset + limit if offset + limit < total else None
    if format == "json":
        return CellPage(
            total=total,
            offset=offset,
            limit=limit,
            next_offset=next_offset,
            cells=[_cell_out(r) for r in rows],
        )
    return {
        "type": "FeatureCollection",
        "total": total,
        "offset": offset,
        "limit": limit,
        "next_offset": next_offset,
        "features": [
            {
                "type": "Feature",
                "id": r.code,
                "geometry": json.loads(r.geometry),
                "properties": _cell_out(r).model_dump(mode="json"),
            }
            for r in rows
        ],
    }


@router.get("/locate")
def locate(
    session: ReadSessionDep,
    viewer: CurrentViewer,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    crs: Annotated[str, Query(description="wgs84, gcj02 or bd09")] = "wgs84",
    as_of: AsOf = None,
) -> CellAtPoint:
    """The unit cell a point falls in (a point on a shared edge: the smallest code), if it
    is one the viewer may see; 404 otherwise, as for a point in no cell."""
    if crs.lower() in CHINESE_WEB_DATUMS:
        lon, lat = point_to_wgs84(lon, lat, crs)
    elif crs.lower() not in ("wgs84", "epsg:4326"):
        raise HTTPException(422, detail=f"crs must be wgs84, gcj02 or bd09, got {crs!r}")
    found = leaf_cell_at(session, lon, lat, as_of or clock.now())
    if found is None or not can_see(session, viewer, Cell, found[0]):
        raise HTTPException(404, detail=f"({lat}, {lon}) lies in no unit cell you may see")
    cell = get_cell(session, found[1])
    return CellAtPoint(code=cell.code, name=cell.name)


@router.get("/{code}/card")
def cell_card(
    code: str,
    session: SessionDep,
    viewer: CurrentViewer,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """What the map's card shows at `as_of` (default now): reasons, last counted patrol, the
    roster of that time with phones, the cases open then and recent ones (with their desk
    links), the newest reports with photos; for those who may take accountability exports,
    the lapses of the last 30 days and the cell's dossier for them."""
    return card.cell_card(
        session, viewer, code, as_of, accountable=viewer.role in ACCOUNTABLE_ROLES
    )


@router.get("/{code}/coverage")
def cell_coverage(
    code: str,
    session: ReadSessionDep,
    viewer: CurrentViewer,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Coverage quality (SPEC §5): the share of the cell within 150 m of its counted patrols in
    the last interval, and the night/weekend share of its patrols over 30 days."""
    cell = visible_cell(session, viewer, code)
    at = as_of or clock.now()
    found = coverage(session, [cell.id], at)[cell.code]
    return {
        "code": cell.code,
        "name": cell.name,
        "as_of": at.isoformat(),
        "patrol_interval_hours": cell.patrol_interval_hours,
        "reach_m": REACH_M,
        **found.as_dict(),
    }


@router.get("/{code}")
def cell_detail(code: str, session: SessionDep, viewer: CurrentViewer) -> CellDetail:
    cell = visible_cell(session, viewer, code)
    row = session.execute(
        select(*CELL_COLUMNS, func.ST_AsGeoJSON(Cell.geom, 7).label("geometry"))
        .outerjoin(Parent, Parent.id == Cell.parent_id)
        .where(Cell.id == cell.id)
    ).one()
    roster = session.execute(
        select(
            Duty.duty, Person.username, Person.name, Person.phone, Duty.valid_from, Duty.valid_to
        )
        .join(Person, Person.id == Duty.person_id)
        .where(Duty.cell_id == cell.id, duty_active_at(clock.now()))
        .order_by(Duty.duty, Person.username)
    ).all()
    children = (
        session.scalar(select(func.count()).select_from(Cell).where(Cell.parent_id == cell.id)) or 0
    )
    return CellDetail(
        **_cell_out(row).model_dump(),
        children=children,
        roster=[DutyOut(**r._mapping) for r in roster],
        geometry=json.loads(row.geometry),
    )
