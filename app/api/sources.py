"""The pollution-source ledger (台账): list (JSON/GeoJSON), read, create, update, retire."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from app.api.deps import CurrentViewer
from app.api.params import AsOf, Bbox, parse_bbox
from app.db import SessionDep
from app.domain.grid.cells import get_cell
from app.domain.hotspots.sources import SourceData, create_source, retire_source, update_source
from app.domain.people.scope import get_visible, visible
from app.models import Cell, Person, Source
from app.models.base import LTree
from app.models.sources import SOURCE_TYPES
from app.schemas.sources import SourceIn, SourceOut, SourcePatch

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])
SourceId = Annotated[int, Path(ge=1, le=2**62)]


def source_out(session: Session, s: Source) -> SourceOut:
    cell = session.get(Cell, s.cell_id) if s.cell_id else None
    surveyor = session.get(Person, s.surveyed_by_id) if s.surveyed_by_id else None
    return SourceOut(
        id=s.id,
        type=s.type,
        type_label=SOURCE_TYPES[s.type],
        name=s.name,
        description=s.description,
        lat=s.lat,
        lon=s.lon,
        cell_code=cell.code if cell else None,
        surveyed_by=surveyor.username if surveyor else None,
        surveyed_at=s.surveyed_at,
        inspection_interval_hours=s.inspection_interval_hours,
        retired_at=s.retired_at,
    )


@router.get("")
def list_sources(
    session: SessionDep,
    viewer: CurrentViewer,
    within: Annotated[str | None, Query(description="a cell code: only its subtree")] = None,
    type: Annotated[list[str] | None, Query()] = None,
    include_retired: bool = False,
    bbox: Bbox = None,
    format: Literal["json", "geojson"] = "json",
    as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    conditions: list[Any] = [visible(viewer, Source)]
    if within is not None:
        root = get_cell(session, within)
        conditions.append(
            Source.cell_id.in_(select(Cell.id).where(Cell.path.op("<@")(literal(root.path, LTree))))
        )
    if type:
        conditions.append(Source.type.in_(type))
    box = parse_bbox(bbox)
    if box is not None:
        conditions.append(Source.geom.intersects(func.ST_MakeEnvelope(*box, 4326)))
    if as_of is not None:  # the ledger as it stood then: entered by then, not yet retired
        conditions.append(Source.created_at <= as_of)
        if not include_retired:
            conditions.append(Source.retired_at.is_(None) | (Source.retired_at > as_of))
    elif not include_retired:
        conditions.append(Source.retired_at.is_(None))
    total = session.scalar(select(func.count()).select_from(Source).where(*conditions)) or 0
    rows = session.scalars(
        select(Source).where(*conditions).order_by(Source.id).limit(limit).offset(offset)
    ).all()
    items = [source_out(session, s).model_dump(mode="json") for s in rows]
    page = {
        "total": total,
        "offset": offset,
        "limit": limit,
        "next_offset": offset + limit if offset + limit < total else None,
    }
    if format == "json":
        return {**page, "sources": items}
    return {
        "type": "FeatureCollection",
        **page,
        "features": [
            {
                "type": "Feature",
                "id": i["id"],
                "geometry": {"type": "Point", "coordinates": [i["lon"], i["lat"]]},
                "properties": i,
            }
            for i in items
        ],
    }


@router.post("", status_code=201)
def post_source(body: SourceIn, session: SessionDep, viewer: CurrentViewer) -> SourceOut:
    source = create_source(session, viewer, SourceData(**body.model_dump()))
    session.commit()
    return source_out(session, source)


@router.get("/{source_id}")
def get_one(source_id: SourceId, session: SessionDep, viewer: CurrentViewer) -> SourceOut:
    return source_out(session, get_visible(session, viewer, Source, source_id))


@router.patch("/{source_id}")
def patch_source(
    source_id: SourceId, body: SourcePatch, session: SessionDep, viewer: CurrentViewer
) -> SourceOut:
    source = get_visible(session, viewer, Source, source_id)
    update_source(session, viewer, source, body.model_dump(exclude_unset=True))
    session.commit()
    return source_out(session, source)


@router.delete("/{source_id}", status_code=204)
def delete_source(source_id: SourceId, session: SessionDep, viewer: CurrentViewer) -> Response:
    """Retire the source: it leaves the ledger's current view, its history stays."""
    retire_source(session, viewer, get_visible(session, viewer, Source, source_id))
    session.commit()
    return Response(status_code=204)
