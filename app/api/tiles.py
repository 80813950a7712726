"""GET /tiles/{layer}/{z}/{x}/{y}.pbf — Mapbox vector tiles for the coverage map."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

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
) -> Response:
    """Unit cells with their gap status (layer `cells`) from zoom 13; below that, parent cells
    with the share of their unit cells that have a gap (layer `parents`). Scope-limited."""
    body = cells_tile(session, selection_for(session, viewer, within), z, x, y, as_of)
    cache = "private, max-age=30" if as_of is None else "private, max-age=3600"
    # The same URL answers differently per user: caches must key on who asks.
    return Response(
        body, media_type=MVT, headers={"Cache-Control": cache, "Vary": "Cookie, Authorization"}
    )
