"""Grid files written byte by byte, so that they can hold what shapely refuses to build: a
ring left open, a ring of one or two points, NaN and infinite coordinates.

A geometry is given as GeoJSON-like data: {"type": "Polygon", "coordinates": [[(x, y), …]]},
the same for MultiPolygon, Point and LineString, or None for a feature without geometry.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

Geometry = dict[str, Any] | None


def write_geojson(path: Path, features: list[tuple[dict[str, Any], Geometry]]) -> Path:
    """A FeatureCollection of (properties, geometry); NaN and infinity are written as the
    tokens NaN and Infinity, which GDAL reads."""
    body = [{"type": "Feature", "properties": props, "geometry": geom} for props, geom in features]
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": body}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def _polygon_rings(geom: dict[str, Any]) -> list[list[tuple[float, float]]]:
    if geom["type"] == "Polygon":
        return [list(map(tuple, ring)) for ring in geom["coordinates"]]
    return [list(map(tuple, ring)) for poly in geom["coordinates"] for ring in poly]


def _bounds(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    xs = [x for x, _ in points if math.isfinite(x)] or [0.0]
    ys = [y for _, y in points if math.isfinite(y)] or [0.0]
    return min(xs), min(ys), max(xs), max(ys)


def _parts_record(shape_type: int, parts: list[list[tuple[float, float]]]) -> bytes:
    points = [p for part in parts for p in part]
    body = struct.pack("<i4d2i", shape_type, *_bounds(points), len(parts), len(points))
    offset = 0
    for part in parts:
        body += struct.pack("<i", offset)
        offset += len(part)
    return body + b"".join(struct.pack("<2d", x, y) for x, y in points)


def _shape_record(geom: Geometry) -> bytes:
    if geom is None:
        return struct.pack("<i", 0)  # the null shape
    if geom["type"] == "Point":
        return struct.pack("<i2d", 1, *geom["coordinates"])
    if geom["type"] == "LineString":
        return _parts_record(3, [list(map(tuple, geom["coordinates"]))])
    return _parts_record(5, _polygon_rings(geom))


def _header(length_bytes: int, bounds: tuple[float, float, float, float]) -> bytes:
    return (
        struct.pack(">7i", 9994, 0, 0, 0, 0, 0, length_bytes // 2)
        + struct.pack("<2i", 1000, 5)
        + struct.pack("<4d", *bounds)
        + struct.pack("<4d", 0, 0, 0, 0)
    )


def write_shapefile(
    path: Path, features: list[tuple[dict[str, Any], Geometry]], encoding: str = "UTF-8"
) -> Path:
    """A polygon Shapefile whose records are exactly the given geometries. The .dbf, .cpg and
    .prj (WGS-84) are GDAL's; the .shp and .shx are written here."""
    frame = gpd.GeoDataFrame(
        [props for props, _ in features],
        geometry=[shapely.box(0, 0, 1, 1)] * len(features),
        crs="EPSG:4326",
    )
    frame.to_file(path, engine="pyogrio", encoding=encoding)
    records = [_shape_record(geom) for _, geom in features]
    points = [
        tuple(p)
        for _, geom in features
        if geom and geom["type"] in ("Polygon", "MultiPolygon")
        for p in (p for ring in _polygon_rings(geom) for p in ring)
    ]
    bounds = _bounds(points)  # type: ignore[arg-type]
    shp, shx, offset = b"", b"", 100
    for number, record in enumerate(records, start=1):
        shx += struct.pack(">2i", offset // 2, len(record) // 2)
        shp += struct.pack(">2i", number, len(record) // 2) + record
        offset += 8 + len(record)
    path.write_bytes(_header(100 + len(shp), bounds) + shp)
    path.with_suffix(".shx").write_bytes(_header(100 + len(shx), bounds) + shx)
    return path


# --- a catalogue of geometries, good and broken, placed at (x, y) -------------------------

SIZE = 0.01


def _square(x: float, y: float, d: float = SIZE) -> list[tuple[float, float]]:
    return [(x, y), (x + d, y), (x + d, y + d), (x, y + d), (x, y)]


def _polygon(*rings: list[tuple[float, float]]) -> Geometry:
    return {"type": "Polygon", "coordinates": [list(r) for r in rings]}


def _inner(x: float, y: float) -> list[tuple[float, float]]:
    return _square(x + 0.004, y + 0.004, 0.002)


SHAPES: dict[str, Any] = {
    # taken as they are
    "square": lambda x, y: _polygon(_square(x, y)),
    "holed": lambda x, y: _polygon(_square(x, y), _inner(x, y)),
    "multi": lambda x, y: {
        "type": "MultiPolygon",
        "coordinates": [[_square(x, y, 0.004)], [_square(x + 0.005, y, 0.004)]],
    },
    # repaired with make_valid (rejected with --strict)
    "bowtie": lambda x, y: _polygon(
        [(x, y), (x + SIZE, y + SIZE), (x + SIZE, y), (x, y + SIZE), (x, y)]
    ),
    # always rejected
    "open_ring": lambda x, y: _polygon(_square(x, y)[:-1]),
    "two_points": lambda x, y: _polygon(_square(x, y)[:2]),
    "one_point": lambda x, y: _polygon(_square(x, y)[:1]),
    "three_points": lambda x, y: _polygon([(x, y), (x + SIZE, y), (x, y)]),
    "open_hole": lambda x, y: _polygon(_square(x, y), _inner(x, y)[:-1]),
    "flat": lambda x, y: _polygon([(x, y), (x + SIZE, y), (x + 2 * SIZE, y), (x, y)]),
    "nan": lambda x, y: _polygon([(x, y), (math.nan, y), (x + SIZE, y + SIZE), (x, y)]),
    "infinite": lambda x, y: _polygon([(x, y), (math.inf, y), (x + SIZE, y + SIZE), (x, y)]),
    "empty": lambda x, y: _polygon(),
    "point": lambda x, y: {"type": "Point", "coordinates": (x, y)},
    "line": lambda x, y: {"type": "LineString", "coordinates": [(x, y), (x + SIZE, y)]},
    "null": lambda x, y: None,
}
GOOD = ("square", "holed", "multi")
REPAIRABLE = ("bowtie",)
# What the message says after "feature N (code X): geometry ", per broken shape.
BROKEN = {
    "open_ring": "has a ring that is not closed",
    "two_points": "has a ring that is not closed",
    "one_point": "has a ring of a single point",
    "three_points": "and repairing it leaves no area",
    "open_hole": "has a ring that is not closed",
    "flat": "and repairing it leaves no area",
    "nan": "has non-finite coordinates",
    "infinite": "has non-finite coordinates",
    "empty": "is empty or missing",
    "point": "is a Point, not a polygon",
    "line": "is a LineString, not a polygon",
    "null": "is empty or missing",
}
