"""Map vector tiles (ST_AsMVT): unit cells coloured by gap status from zoom LEAF_ZOOM on;
below it, parent cells with the share of their unit cells that have a gap — never a whole
province's leaves in one tile, and never a truncated tile."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.domain.errors import DomainError
from app.domain.supervision.gaps import Selection, gap_params, instant_and_mode
from app.sql import load

LEAF_ZOOM = 13
MAX_ZOOM = 20
# Below LEAF_ZOOM, which tree depth (path position) a zoom level shows: districts, streets…
PARENT_DEPTH = {z: (1 if z <= 9 else 2 if z <= 11 else 3) for z in range(LEAF_ZOOM)}

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
    -- through the spatial index; and the box around them all, to find their leaves by.
    SELECT c.path, ST_AsEWKT(ST_Extent(c.geom) OVER ()) AS extent
      FROM cells c
     WHERE c.geom && ST_GeomFromEWKT(:bbox)
       AND (nlevel(c.path) = :idx + 1 OR (c.is_leaf AND nlevel(c.path) < :idx + 1))
       AND (CAST(:root_path AS ltree) IS NULL OR c.path <@ CAST(:root_path AS ltree))
       AND (c.valid_to IS NULL OR c.valid_to > :t)
       AND (c.valid_from IS NULL OR c.valid_from <= :t)
""")


def check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM or not (0 <= x < 2**z and 0 <= y < 2**z):
        raise DomainError(f"no tile {z}/{x}/{y}")


def cells_tile(
    session: Session, selection: Selection, z: int, x: int, y: int, as_of: datetime | None
) -> bytes:
    check_tile(z, x, y)
    t, current = instant_and_mode(session, as_of)
    bbox = session.scalar(_ENVELOPE, {"z": z, "x": x, "y": y})
    base = gap_params(selection, t, current) | {"z": z, "x": x, "y": y}
    # Inspectors and leaders see only their own cells: parents would show others' outlines.
    if z >= LEAF_ZOOM or selection.cell_ids is not None:
        tile = session.scalar(load("tile_leaves"), {**base, "bbox": bbox})
        return bytes(tile or b"")
    root_depth = len(selection.root_path.split(".")) if selection.root_path else 0
    idx = max(PARENT_DEPTH[z], root_depth)
    parents = session.execute(_PARENTS_IN_TILE, {**base, "bbox": bbox, "idx": idx}).all()
    if not parents:
        return b""
    under = {"under": [p.path for p in parents], "bbox": parents[0].extent, "idx": idx}
    tile = session.scalar(load("tile_parents"), {**base, **under})
    return bytes(tile or b"")
