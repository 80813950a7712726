"""Map vector tiles (ST_AsMVT): unit cells coloured by gap status from zoom LEAF_ZOOM on;
below it, parent cells with the share of their unit cells that have a gap — never a whole
province's leaves in one tile, and never a truncated tile."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.domain.errors import DomainError
from app.domain.supervision.gaps import (
    Selection,
    area_counts,
    gap_params,
    instant_and_mode,
    rollup,
)
from app.sql import load

LEAF_ZOOM = 13
MAX_ZOOM = 20
# Below LEAF_ZOOM, which tree depth (path position) a zoom level shows: districts, streets…
PARENT_DEPTH = {z: (1 if z <= 9 else 2 if z <= 11 else 3) for z in range(LEAF_ZOOM)}
# Which stored outline (cell_outlines, app/sql/fn_refresh_rollup.sql) a zoom draws parents with.
OUTLINE_BAND = {z: (0 if z <= 7 else 1 if z <= 9 else 2) for z in range(LEAF_ZOOM)}

# The tile's envelope widened by the MVT buffer (64/4096 of a tile), clamped to the Web
# Mercator world so that low-zoom tiles do not wrap across the antimeridian, in WGS-84.
_ENVELOPE = text("""
    SELECT ST_AsEWKT(ST_Transform(ST_MakeEnvelope(
               greatest(-20037508.342789244, ST_XMin(e) - pad),
               greatest(-20037508.342789244, ST_YMin(e) - pad),
               least(20037508.342789244, ST_XMax(e) + pad),
               least(20037508.342789244, ST_YMax(e) + pad), 3857), 4326))
      FROM (SELECT ST_TileEnvelope(:z, :x, :y) AS e,
                   (20037508.342789244 * 2 / 2 ^ :z) * 64 / 4096 AS pad) tile
""")
_PARENTS_IN_TILE = text("""
    -- The cells at depth idx meeting the tile (or a leaf where the tree is shallower there),
    -- through the spatial index; and the box around them all, to find their leaves by. The
    -- row version (xmin) moves with any edit of the cell: part of the tile's ETag.
    SELECT c.path, ST_AsEWKT(ST_Extent(c.geom) OVER ()) AS extent, c.xmin::text AS version
      FROM cells c
     WHERE c.geom && ST_GeomFromEWKT(:bbox)
       AND (nlevel(c.path) = :idx + 1 OR (c.is_leaf AND nlevel(c.path) < :idx + 1))
       AND (CAST(:root_path AS ltree) IS NULL OR c.path <@ CAST(:root_path AS ltree))
       AND (c.valid_to IS NULL OR c.valid_to > :t)
       AND (c.valid_from IS NULL OR c.valid_from <= :t)
""")


_PLACES = text("""
    -- Where to write each area's label (a point surely inside it) and the box to zoom to.
    SELECT c.code, ST_Y(p) AS lat, ST_X(p) AS lon,
           ST_XMin(c.geom) AS minx, ST_YMin(c.geom) AS miny,
           ST_XMax(c.geom) AS maxx, ST_YMax(c.geom) AS maxy
      FROM cells c CROSS JOIN LATERAL ST_PointOnSurface(c.geom) p
     WHERE c.code = ANY (CAST(:codes AS text[]))
""")


def parent_index(selection: Selection, z: int) -> int:
    """Which tree depth (path position) the parents layer shows at zoom z below LEAF_ZOOM:
    never above the selection's own root."""
    root_depth = len(selection.root_path.split(".")) if selection.root_path else 0
    return max(PARENT_DEPTH[z], root_depth)


def check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM or not (0 <= x < 2**z and 0 <= y < 2**z):
        raise DomainError(f"no tile {z}/{x}/{y}")


@dataclass(frozen=True)
class Tile:
    """A tile's bytes, made only when asked for, and its entity tag: for the parents layer,
    a digest of what it shows (each area's counts and row version), known before the tile
    is drawn, so that a client holding it gets 304 without the drawing."""

    etag: str
    draw: Callable[[], bytes]


def cells_tile(
    session: Session, selection: Selection, z: int, x: int, y: int, as_of: datetime | None
) -> Tile:
    check_tile(z, x, y)
    t, current = instant_and_mode(session, as_of)
    bbox = session.scalar(_ENVELOPE, {"z": z, "x": x, "y": y})
    base = gap_params(selection, t, current) | {"z": z, "x": x, "y": y}
    # Inspectors and leaders see only their own cells: parents would show others' outlines.
    if z >= LEAF_ZOOM or selection.cell_ids is not None:
        body = bytes(session.scalar(load("tile_leaves"), {**base, "bbox": bbox}) or b"")
        return Tile(_tag(body), lambda: body)
    idx = parent_index(selection, z)
    parents = session.execute(_PARENTS_IN_TILE, {**base, "bbox": bbox, "idx": idx}).all()
    if not parents:
        return Tile(_tag(b""), lambda: b"")
    under = Selection(selection.root_path, None, under=[p.path for p in parents])
    counts = area_counts(session, under, t, current, idx, shallow=True)
    areas = [
        {
            "id": k,
            "leaf_cells": c["leaf_cells"],
            "with_gaps": c["leaf_cells"] - c["without_gaps"],
            "overdue": c["overdue_hotspot"],
            "never_patrolled": c["never_patrolled"],
        }
        for k, c in sorted(counts.items())
    ]
    state = json.dumps([z, x, y, areas, sorted(p.version for p in parents)])

    def draw() -> bytes:
        params = {"z": z, "x": x, "y": y, "band": OUTLINE_BAND[z], "areas": json.dumps(areas)}
        return bytes(session.scalar(load("tile_areas"), params) or b"")

    return Tile(_tag(state.encode()), draw)


def _tag(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'


def area_labels(
    session: Session,
    selection: Selection,
    z: int,
    box: tuple[float, float, float, float],
    as_of: datetime | None,
) -> list[dict[str, Any]]:
    """The areas the parents layer shows at zoom z within `box` (WGS-84 minx, miny, maxx,
    maxy), each with its name, its unit cells and how many have a gap (counted whole, as in
    the tiles; from the maintained summaries when as_of is now), a label point and its box.
    None for inspectors and leaders (their map shows unit cells only) or from LEAF_ZOOM on."""
    if not 0 <= z < LEAF_ZOOM or selection.cell_ids is not None:
        return []
    t, current = instant_and_mode(session, as_of)
    idx = parent_index(selection, z)
    bbox = session.scalar(
        text("SELECT ST_AsEWKT(ST_MakeEnvelope(:a, :b, :c, :d, 4326))"),
        dict(zip("abcd", box, strict=True)),
    )
    parents = session.execute(
        _PARENTS_IN_TILE, {**gap_params(selection, t, current), "bbox": bbox, "idx": idx}
    ).all()
    if not parents:
        return []
    under = Selection(selection.root_path, None, under=[p.path for p in parents])
    base = len(selection.root_path.split(".")) if selection.root_path else 0
    return with_places(session, rollup(session, under, as_of, depth=idx - base + 1))


def with_places(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Roll-up rows with `with_gaps`, a label point (`lat`, `lon`) and `bounds`
    ([[miny, minx], [maxy, maxx]], as Leaflet takes them)."""
    places = {p.code: p for p in session.execute(_PLACES, {"codes": [r["code"] for r in rows]})}
    out = []
    for r in rows:
        p = places[r["code"]]
        out.append(
            r
            | {
                "with_gaps": r["leaf_cells"] - r["without_gaps"],
                "lat": p.lat,
                "lon": p.lon,
                "bounds": [[p.miny, p.minx], [p.maxy, p.maxx]],
            }
        )
    return out
