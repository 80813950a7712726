"""GET /tiles/{layer}/{z}/{x}/{y}.pbf — Mapbox vector tiles for the coverage map."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Response

from app.api.deps import CurrentViewer
from app.api.params import AsOf, Within
from app.db import ReadSessionDep
from app.domain.supervision.gaps import selection_for
from app.domain.supervision.tiles import MAX_ZOOM, cells_tile

router = APIRouter(prefix="/tiles", tags=["tiles"])
MVT = "application/vnd.mapbox-vector-tile"


@router.get("/cells/{z}/{x}/{y}.pbf", response_class=Response)
def cells(
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
    x: Annotated[int, Path(ge=0, le=2**MAX_ZOOM)],
    y: Annotated[int, Path(ge=0, le=2**MAX_ZOOM)],
    session: ReadSessionDep,
    viewer: CurrentViewer,
    as_of: AsOf = None,
    within: Within = None,
    if_none_match: Annotated[str, Header(include_in_schema=False)] = "",
) -> Response:
    """Unit cells with their gap status (layer `cells`) from zoom 13; below that, parent cells
    with the share of their unit cells that have a gap (layer `parents`). Scope-limited. An
    ETag comes with each tile; `If-None-Match` with it answers 304 while the tile is the same
    (for the parents layer, known from the counts before the tile is drawn)."""
    tile = cells_tile(session, selection_for(session, viewer, within), z, x, y, as_of)
    cache = "private, max-age=30" if as_of is None else "private, max-age=3600"
    # The same URL answers differently per user: caches must key on who asks.
    headers = {"Cache-Control": cache, "Vary": "Cookie, Authorization", "ETag": tile.etag}
    if tile.etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(tile.draw(), media_type=MVT, headers=headers)
