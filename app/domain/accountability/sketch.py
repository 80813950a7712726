"""The map of a dossier: its cell, hotspot and reports as GeoJSON (WGS-84), and the same as an
SVG sketch for readers without GIS — the cell's outline with its name and code, the spot
(the hotspot) and the reports numbered in time order, a scale bar and north. Drawn in metres
(an azimuthal equidistant projection centred on the cell, pyproj), north up."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from pyproj import Transformer
from shapely import wkb
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import transform

from app.models import Cell, Hotspot

HOTSPOT_COLOUR = "#b2182b"  # red
REPORT_COLOUR = "#2166ac"  # blue
FONT = "Noto Sans CJK SC, Noto Sans SC, sans-serif"
WIDTH = 640  # px
MARGIN = 48
MAX_DRAWN_HEIGHT = 420  # px: the sketch and its page's text share an A4 page
SCALE_STEPS = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)


@dataclass
class Marker:
    point: Point  # WGS-84 lon/lat
    colour: str
    label: str
    spot: bool = False  # the hotspot itself (a larger ringed marker)


def dossier_map(
    cell: Cell | None, hotspot: Hotspot | None, reports: list[dict[str, Any]]
) -> tuple[dict[str, Any], bytes | None]:
    """(GeoJSON FeatureCollection, SVG sketch or None when there is no cell to draw).
    `reports` as the dossier's reports.json holds them (id, lon, lat, observed_at), in time
    order: report n is labelled n, as in the dossier's PDF."""
    features: list[dict[str, Any]] = []
    markers: list[Marker] = []
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
    for n, r in enumerate(reports, start=1):
        markers.append(Marker(Point(r["lon"], r["lat"]), REPORT_COLOUR, str(n)))
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                "properties": {
                    "kind": "report",
                    "label": str(n),
                    "id": r["id"],
                    "observed_at": r["observed_at"],
                },
            }
        )
    if hotspot is not None:
        markers.append(Marker(Point(hotspot.lon, hotspot.lat), HOTSPOT_COLOUR, "问题 spot", True))
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [hotspot.lon, hotspot.lat]},
                "properties": {"kind": "hotspot", "id": str(hotspot.id)},
            }
        )
    geojson = {"type": "FeatureCollection", "features": features}
    if shape is None or cell is None:
        return geojson, None
    return geojson, svg_sketch(shape, markers, f"{cell.name} {cell.code}")


def svg_sketch(cell: BaseGeometry, markers: list[Marker], title: str) -> bytes:
    """The cell's outline, labelled, with its markers, a scale bar and a north arrow."""
    centre = cell.centroid
    to_m = Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84", always_xy=True
    ).transform
    shape = transform(to_m, cell)
    spots = [(m, Point(to_m(m.point.x, m.point.y))) for m in markers]
    minx, miny, maxx, maxy = shape.bounds
    for _, p in spots:  # a report just outside the cell stays on the sketch
        minx, miny, maxx, maxy = min(minx, p.x), min(miny, p.y), max(maxx, p.x), max(maxy, p.y)
    span_x, span_y = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
    scale = min((WIDTH - 2 * MARGIN) / span_x, MAX_DRAWN_HEIGHT / span_y)  # px per metre
    height = round(span_y * scale + 2 * MARGIN + 24)

    def px(x: float, y: float) -> tuple[float, float]:
        return MARGIN + (x - minx) * scale, MARGIN + 16 + (maxy - y) * scale

    outline = " ".join(
        "M " + " L ".join("{:.1f} {:.1f}".format(*px(x, y)) for x, y in ring.coords) + " Z"
        for poly in getattr(shape, "geoms", [shape])
        for ring in (poly.exterior, *poly.interiors)
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<path d="{outline}" fill="#dde7f0" stroke="#345" stroke-width="1.5" '
        'fill-rule="evenodd"/>',
        f'<text x="{MARGIN}" y="22" font-size="14" font-weight="bold">网格 cell: '
        f"{escape(title)}</text>",
    ]
    # The spot first, reports over it; the spot labelled right, reports above-left, so a
    # report filed at the spot stays readable. Reports that would overlap on the sketch are
    # drawn once, labelled with all their numbers ("1–8").
    groups: list[tuple[float, float, str, list[str]]] = []
    for m, p in spots:
        x, y = px(p.x, p.y)
        if m.spot:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="none" stroke="{m.colour}" '
                f'stroke-width="2"/><circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{m.colour}"/>'
                f'<text x="{x + 13:.1f}" y="{y + 4:.1f}" fill="{m.colour}" font-weight="bold">'
                f"{escape(m.label)}</text>"
            )
            continue
        near = next((g for g in groups if abs(g[0] - x) < 10 and abs(g[1] - y) < 10), None)
        if near is None:
            groups.append((x, y, m.colour, [m.label]))
        else:
            near[3].append(m.label)
    for x, y, colour, labels in groups:
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}" stroke="#fff"/>'
            f'<text x="{x - 7:.1f}" y="{y - 7:.1f}" text-anchor="end" fill="{colour}" '
            f'font-weight="bold">{escape(_numbers(labels))}</text>'
        )
    parts.append(_scale_bar(scale, height))
    parts.append(_north(WIDTH - MARGIN + 20, MARGIN))
    parts.append("</svg>")
    return "".join(parts).encode()


def _numbers(labels: list[str]) -> str:
    """Report numbers as short text: runs of consecutive numbers as ranges ("1–3, 7")."""
    if not all(label.isdigit() for label in labels):
        return ", ".join(labels)
    numbers = sorted(int(label) for label in labels)
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)


def _scale_bar(px_per_m: float, height: int) -> str:
    """A bar of a round length, at most a quarter of the sketch's width."""
    metres = max([s for s in SCALE_STEPS if s * px_per_m <= WIDTH / 4] or [SCALE_STEPS[0]])
    length = metres * px_per_m
    x, y = MARGIN, height - 14
    label = f"{metres // 1000} km" if metres >= 1000 else f"{metres} m"
    return (
        f'<path d="M {x} {y - 5} L {x} {y} L {x + length:.1f} {y} L {x + length:.1f} {y - 5}" '
        f'fill="none" stroke="#111" stroke-width="1.5"/>'
        f'<text x="{x + length + 6:.1f}" y="{y + 1}" font-size="11">{label}</text>'
    )


def _north(x: float, y: float) -> str:
    return (
        f'<path d="M {x} {y - 16} L {x - 6} {y + 2} L {x} {y - 3} L {x + 6} {y + 2} Z" '
        f'fill="#111"/><text x="{x}" y="{y + 16}" text-anchor="middle" font-size="11">'
        "北 N</text>"
    )
