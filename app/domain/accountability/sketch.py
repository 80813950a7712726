"""The map of a dossier: its cell, hotspot and reports as GeoJSON (WGS-84), and the same as an
SVG sketch for readers without GIS."""

from __future__ import annotations

from typing import Any

from shapely import wkb
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from app.models import Cell, Hotspot

HOTSPOT_COLOUR = "#b2182b"  # red
REPORT_COLOUR = "#2166ac"  # blue


def dossier_map(
    cell: Cell | None, hotspot: Hotspot | None, reports: list[dict[str, Any]]
) -> tuple[dict[str, Any], bytes | None]:
    """(GeoJSON FeatureCollection, SVG sketch or None when there is no cell to draw).
    `reports` as the dossier's reports.json holds them (id, lon, lat, observed_at)."""
    features: list[dict[str, Any]] = []
    points: list[tuple[Point, str]] = []
    shape = None
    if cell is not None:
        shape = wkb.loads(bytes(cell.geom.data))
        features.append(
            {
                "type": "Feature",
                "geometry": shape.__geo_interface__,
                "properties": {"kind": "cell", "code": cell.code, "name": cell.name},
            }
        )
    for r in reports:
        points.append((Point(r["lon"], r["lat"]), REPORT_COLOUR))
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                "properties": {"kind": "report", "id": r["id"], "observed_at": r["observed_at"]},
            }
        )
    if hotspot is not None:
        points.append((Point(hotspot.lon, hotspot.lat), HOTSPOT_COLOUR))
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [hotspot.lon, hotspot.lat]},
                "properties": {"kind": "hotspot", "id": str(hotspot.id)},
            }
        )
    geojson = {"type": "FeatureCollection", "features": features}
    return geojson, (svg_sketch(shape, points) if shape is not None else None)


def svg_sketch(cell: BaseGeometry, points: list[tuple[Point, str]]) -> bytes:
    """The cell's outline with coloured dots, north up."""
    minx, miny, maxx, maxy = cell.bounds
    pad = max(maxx - minx, maxy - miny) * 0.05 or 0.001
    w, h = maxx - minx + 2 * pad, maxy - miny + 2 * pad
    flip = f"matrix(1 0 0 -1 0 {2 * miny + maxy - miny})"  # north up
    dots = "".join(
        f'<circle cx="{p.x}" cy="{p.y}" r="{w / 80}" fill="{colour}" />' for p, colour in points
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{minx - pad} {miny - pad} {w} {h}" '
        f'width="600" height="{600 * h / w:.0f}"><g transform="{flip}">'
        f'<path d="{_path(cell)}" fill="#dde7f0" stroke="#345" stroke-width="{w / 300}" />'
        f"{dots}</g></svg>"
    ).encode()


def _path(shape: BaseGeometry) -> str:
    parts = []
    for poly in getattr(shape, "geoms", [shape]):
        for ring in (poly.exterior, *poly.interiors):
            xy = " L ".join(f"{x} {y}" for x, y in ring.coords)
            parts.append(f"M {xy} Z")
    return " ".join(parts)
