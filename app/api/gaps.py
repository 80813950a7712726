"""Gaps now or at any instant (JSON or GeoJSON), a per-parent roll-up, and lapse periods."""

from __future__ import annotations

import json
import tempfile
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock
from app.api.deps import Accountable, CurrentViewer, require_roles
from app.api.exports import send_table, spooled
from app.api.params import AsOf, Bbox, Instant, Within, parse_bbox
from app.db import ReadSessionDep, SessionDep
from app.domain.accountability.exportfile import FORMATS
from app.domain.accountability.gaplist import gap_table
from app.domain.errors import DomainError
from app.domain.people.scope import Viewer
from app.domain.supervision.coverage import coverage as cell_coverage
from app.domain.supervision.gaps import (
    REASONS,
    Gaps,
    Selection,
    find_gaps,
    gaps_document,
    gaps_page,
    rollup,
    selection_for,
)
from app.domain.supervision.lapses import Lapse, iter_lapses
from app.domain.supervision.spotcheck import plan
from app.domain.supervision.tiles import MAX_ZOOM, area_labels, with_places
from app.domain.timeparse import local_zone
from app.models import Cell
from map_ui.i18n import STRINGS

router = APIRouter(prefix="/api/v1", tags=["gaps"])
JSON = "application/json"
SPOOL_BYTES = 8 * 1024 * 1024


@router.get(
    "/gaps",
    response_model=dict[str, Any],
    responses={200: {"content": {FORMATS["csv"][0]: {}, FORMATS["xlsx"][0]: {}}}},
)
def gaps(
    session: SessionDep,
    read: ReadSessionDep,
    viewer: CurrentViewer,
    as_of: AsOf = None,
    within: Within = None,
    reason: Annotated[Literal[REASONS] | None, Query()] = None,  # type: ignore[valid-type]
    format: Literal["json", "geojson", "csv", "xlsx"] = "json",
    coverage: Annotated[bool, Query(description="add coverage quality per cell")] = False,
    lang: Annotated[Literal["zh", "en"], Query(description="language of csv/xlsx text")] = "zh",
    limit: Annotated[
        int | None,
        Query(ge=1, le=10000, description="JSON in pages: at most this many cells, and `next`"),
    ] = None,
    after: Annotated[
        str | None, Query(max_length=64, description="the `next` of the previous page")
    ] = None,
) -> Any:
    """Every leaf cell with at least one gap reason at `as_of` (SPEC §5), and a summary; as a
    file (`csv`, `xlsx`): one row per cell with its district, street and reasons. With
    `limit` (JSON only): a page of the cells by code, the summary over all of them, and
    `next`, to pass as `after` for the following page (null on the last)."""
    selection = selection_for(read, viewer, within)
    if limit is not None or after is not None:
        if format != "json" or coverage:
            raise DomainError("limit and after page the JSON answer without coverage only")
        page = gaps_page(read, selection, limit or 1000, after, as_of, reason)
        return Response(page, media_type=JSON)
    if format == "json" and not coverage:
        # The common (and province-sized) case: the database writes the document.
        return Response(gaps_document(read, selection, as_of, reason), media_type=JSON)
    result = find_gaps(read, selection, as_of, reason)
    if format in ("csv", "xlsx"):
        return gap_file(session, read, viewer, selection, result, format, lang, within)
    ids = [c.id for c in result.cells]
    quality = cell_coverage(read, ids, result.as_of) if coverage else {}
    cells = [
        {
            "code": c.code,
            "name": c.name,
            "reasons": c.reasons,
            "last_patrol_at": c.last_patrol_at.isoformat() if c.last_patrol_at else None,
            "patrol_interval_hours": c.patrol_interval_hours,
            "open_hotspots": c.open_hotspots,
            "overdue_hotspots": c.overdue_hotspots,
            "uninspected_sources": c.uninspected_sources,
            "missed_problems": c.missed_problems,
        }
        | ({"coverage": quality[c.code].as_dict()} if c.code in quality else {})
        for c in result.cells
    ]
    if format == "json":
        return {"as_of": result.as_of.isoformat(), "cells": cells, "summary": result.summary}
    shapes = {
        cell_id: geometry
        for cell_id, geometry in read.execute(
            select(Cell.id, func.ST_AsGeoJSON(Cell.geom, 6)).where(
                Cell.id.in_([c.id for c in result.cells])
            )
        )
    }
    return {
        "type": "FeatureCollection",
        "as_of": result.as_of.isoformat(),
        "summary": result.summary,
        "features": [
            {
                "type": "Feature",
                "id": props["code"],
                "geometry": json.loads(shapes[c.id]),
                "properties": props,
            }
            for c, props in zip(result.cells, cells, strict=True)
        ],
    }


def gap_file(
    session: Session,
    read: Session,
    viewer: Viewer,
    selection: Selection,
    result: Gaps,
    fmt: str,
    lang: str,
    within: str | None,
) -> Response:
    """The gap list as CSV or XLSX (the XLSX's About sheet: instant, scope, author), audited
    with its hash like every export, so `verify-export` recognises it."""
    labels = {r: STRINGS[lang][r] for r in REASONS}
    table = gap_table(read, result, labels, STRINGS[lang]["list_sep"])
    at = result.as_of
    name = f"gridwatch-gaps-{at.astimezone(local_zone()):%Y%m%d-%H%M}"
    return send_table(session, read, viewer, selection, table, fmt, at, at, within, name)


@router.get("/gaps/rollup")
def gaps_rollup(
    session: ReadSessionDep,
    viewer: CurrentViewer,
    as_of: AsOf = None,
    within: Within = None,
    depth: Annotated[int, Query(ge=1, le=10, description="levels below `within`")] = 1,
    zoom: Annotated[
        int | None,
        Query(ge=0, le=MAX_ZOOM, description="the areas the map's tiles show at this zoom"),
    ] = None,
    bbox: Bbox = None,
) -> dict[str, Any]:
    """For dashboards: per child cell of `within` (or per top-level cell), how many leaf cells
    are in each state (`with_gaps` of `leaf_cells`), the share patrolled within their
    interval, a label point (`lat`, `lon`) and `bounds`. With `zoom` (and `bbox`): the areas
    the map's parents layer shows there instead (none from the unit-cell zoom on): the city
    view's labels."""
    selection = selection_for(session, viewer, within)
    if zoom is not None:
        box = parse_bbox(bbox) or (-180.0, -85.0, 180.0, 85.0)
        rows = area_labels(session, selection, zoom, box, as_of)
    else:
        rows = with_places(session, rollup(session, selection, as_of, depth))
    return {"as_of": (as_of or clock.now()), "parents": rows}


@router.get("/spot-checks")
def spot_checks(
    session: ReadSessionDep,
    viewer: Annotated[
        Viewer, Depends(require_roles("supervisor", "command", "discipline", "admin"))
    ],
    within: Within = None,
    n: Annotated[int, Query(ge=1, le=50)] = 10,
    seed: Annotated[int | None, Query(ge=0, le=2**48)] = None,
) -> dict[str, Any]:
    """An unannounced spot-check plan (暗访): n cells and sources drawn at random, weighted to
    the stale, flagged and high-risk, ordered into a short route. Pass the returned `seed` to
    reproduce a plan; without one, each plan is unpredictable."""
    return plan(session, selection_for(session, viewer, within), n, seed)


@router.get("/lapses", response_model=dict[str, Any])
def lapses(
    session: ReadSessionDep,
    viewer: Accountable,
    from_: Annotated[Instant, Query(alias="from")],
    to: Instant,
    within: Within = None,
    min_hours: Annotated[
        float | None,
        Query(
            ge=0,
            le=24 * 400,
            description="leave out lapses shorter than this (default: GRIDWATCH_EXPORT_MIN_HOURS)",
        ),
    ] = None,
) -> StreamingResponse:
    """Every maximal unpatrolled, overdue and unstaffed period of each leaf cell in [from, to),
    with every person whose duty overlapped it (SPEC §5); `min_hours`: only those lasting at
    least that long (the tolerance the accountability export applies)."""
    selection = selection_for(session, viewer, within)
    # A province-month is ~300k lapses: written lapse by lapse to a spooled file (memory stays
    # flat), then streamed once the database work is done.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    head = {"from": from_.isoformat(), "to": to.isoformat()}
    try:
        spool.write(json.dumps(head, ensure_ascii=False)[:-1].encode() + b', "lapses": [')
        found = iter_lapses(session, selection, from_, to, min_hours=min_hours, people_as_json=True)
        for i, x in enumerate(found):
            spool.write(b", " + lapse_json(x) if i else lapse_json(x))
        spool.write(b"]}")
    except BaseException:
        spool.close()
        raise
    session.close()  # no transaction stays open while the answer streams
    return StreamingResponse(spooled(spool), media_type="application/json")


def lapse_json(x: Lapse) -> bytes:
    """One lapse as JSON (orjson writes datetimes as isoformat does); `responsible` as the
    engine wrote it (app/sql/lapses.sql: duty, username, name, phone, start, end)."""
    head = orjson.dumps(
        {
            "cell_code": x.cell_code,
            "cell_name": x.cell_name,
            "lapse": x.lapse,
            "start": x.start,
            "end": x.end,
            "hours": x.hours,
            "last_patrol_at": x.last_patrol_at,
            "hotspots": x.hotspots,
        }
    )
    people = x.responsible_json if x.responsible_json is not None else orjson.dumps(x.responsible)
    return head[:-1] + b',"responsible":' + people + b"}"
