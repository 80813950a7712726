"""`gridwatch generate-grid`: unit cells of a regular square or hexagonal lattice, clipped to a
parent cell, computed in a metric CRS (the UTM zone of the parent) and coded per SPEC §2.

Codes follow GB/T 30428.1 unit-grid codes: 15 digits `AAAAAA SSS CCC NNN`. Children of a
12-digit community get `community + NNN`; a 6- or 9-digit parent is padded with zeros first.
NNN numbers cells row by row from north to south, west to east within a row.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from pyproj import CRS
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain import audit
from app.domain.errors import Conflict, DomainError
from app.domain.grid.cells import NewCell, get_cell, write_cells
from app.domain.grid.crs import from_wgs84, to_wgs84, transform
from app.domain.grid.geometry import polygonal_part
from app.domain.progress import Progress
from app.models import Cell

MAX_UNITS = 999  # NNN has three digits
SHAPES = ("square", "hex")
SLIVER_SHARE = 1e-6  # of a tile: 0.25 m² for 500 m cells


def metric_crs_for(geom: BaseGeometry) -> CRS:
    """The WGS-84 UTM zone of the geometry's centre (EPSG 326zz north, 327zz south)."""
    lon, lat = geom.centroid.x, geom.centroid.y
    zone = min(60, int((lon + 180) // 6) + 1)
    return _utm(32600 + zone if lat >= 0 else 32700 + zone)


@cache
def _utm(epsg: int) -> CRS:
    return CRS.from_epsg(epsg)


def square_lattice(bounds: tuple[float, float, float, float], size: float) -> list[Polygon]:
    minx, miny, maxx, maxy = bounds
    cols = max(1, math.ceil((maxx - minx) / size))
    rows = max(1, math.ceil((maxy - miny) / size))
    cells: list[Polygon] = []
    for r in range(rows):
        top = maxy - r * size
        for c in range(cols):
            left = minx + c * size
            cells.append(shapely.box(left, top - size, left + size, top))
    return cells


def hex_lattice(bounds: tuple[float, float, float, float], size: float) -> list[Polygon]:
    """Pointy-top hexagons; `size` is the distance between neighbouring centres (across flats)."""
    minx, miny, maxx, maxy = bounds
    radius = size / math.sqrt(3)  # centre to vertex
    dy = 1.5 * radius
    angles = np.radians(np.arange(6) * 60 + 30)
    ring = np.column_stack([np.cos(angles), np.sin(angles)]) * radius
    rows = math.ceil((maxy - miny) / dy) + 2
    cols = math.ceil((maxx - minx) / size) + 2
    cells: list[Polygon] = []
    for r in range(rows):
        cy = maxy + radius - r * dy
        offset = size / 2 if r % 2 else 0.0
        for c in range(cols):
            cx = minx - size / 2 + offset + c * size
            cells.append(Polygon(ring + (cx, cy)))
    return cells


def child_code_prefix(parent_code: str) -> str:
    if not parent_code.isdigit() or len(parent_code) not in (6, 9, 12):
        raise DomainError(
            f"cannot derive GB/T 30428 unit codes under {parent_code!r}: the parent code must "
            "be 6 (county), 9 (street) or 12 (community) digits"
        )
    return parent_code.ljust(12, "0")


def generate_grid(
    session: Session,
    *,
    within: str,
    size_m: float,
    shape: str = "square",
    risk: str = "medium",
    name_prefix: str | None = None,
    progress: Progress | None = None,
) -> int:
    """Create leaf cells under `within`; returns how many. Runs in the caller's transaction."""
    if shape not in SHAPES:
        raise DomainError(f"--shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    if not (10 <= size_m <= 100_000):
        raise DomainError(f"--size-m must be between 10 and 100000 metres, got {size_m}")
    parent = get_cell(session, within)
    prefix = child_code_prefix(parent.code)
    if session.scalar(select(func.count()).select_from(Cell).where(Cell.parent_id == parent.id)):
        raise Conflict(
            f"cell {parent.code} already has child cells; generate-grid only fills "
            "a cell that has none"
        )
    cells = lattice_cells(to_shape(parent.geom), size_m, shape)
    if len(cells) > MAX_UNITS:
        raise DomainError(
            f"{len(cells)} cells of {size_m:g} m would not fit the three-digit unit sequence "
            f"(at most {MAX_UNITS}); use a larger --size-m or generate under smaller parents"
        )
    label = name_prefix or parent.name
    new = [
        NewCell(
            code=f"{prefix}{n:03d}",
            name=f"{label}{n:03d}",
            level=parent.level + 1,
            parent_code=parent.code,
            geom=geom,
            risk=risk,
        )
        for n, geom in enumerate(cells, start=1)
    ]
    inserted, _ = write_cells(session, new, progress)
    audit.record(
        session,
        "grid.generate",
        "cell",
        parent.code,
        cell_id=parent.id,
        after={
            "size_m": size_m,
            "shape": shape,
            "risk": risk,
            "inserted": inserted,
            "codes": [new[0].code, new[-1].code] if new else [],
        },
    )
    return inserted


def lattice_cells(parent: BaseGeometry, size_m: float, shape: str) -> list[MultiPolygon]:
    """The lattice clipped to `parent` (WGS-84), in code order, as WGS-84 MultiPolygons.

    Tiles are laid out in metres, then their corners are converted to WGS-84 and clipped
    against the parent's own WGS-84 polygon: neighbours share converted corners exactly and the
    outer edges are the parent's own vertices, so the children tile the parent without slivers.
    """
    metric = metric_crs_for(parent)
    minx, miny, maxx, maxy = transform(parent, from_wgs84(metric)).bounds
    # One spare ring of tiles: converted back to WGS-84 the lattice's edge is not quite
    # straight, and the parent's extreme vertices must still fall inside some tile.
    bounds = (minx - size_m, miny - size_m, maxx + size_m, maxy + size_m)
    tiles = (square_lattice if shape == "square" else hex_lattice)(bounds, size_m)
    shapely.prepare(parent)
    back = to_wgs84(metric)
    pieces: list[tuple[float, float, MultiPolygon]] = []
    for tile in tiles:
        tile_wgs = transform(tile, back)
        if not parent.intersects(tile_wgs):
            continue
        clipped = polygonal_part(parent.intersection(tile_wgs))
        # A tile that merely touches the parent leaves a zero-width sliver, not a cell.
        if clipped.is_empty or clipped.area < tile_wgs.area * SLIVER_SHARE:
            continue
        centre = tile.centroid
        pieces.append((-round(centre.y, 3), round(centre.x, 3), clipped))
    # North to south, then west to east (hex rows are staggered, so sort on centres).
    pieces.sort(key=lambda p: (p[0], p[1]))
    return [p[2] for p in pieces]
