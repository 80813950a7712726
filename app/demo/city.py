"""The demo city's grid: Xinxiang's four urban districts (real boundaries, GCJ-02 converted to
WGS-84), synthetic streets and communities, ~500 m unit cells coded per GB/T 30428.1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry import LineString, MultiPolygon, Point
from shapely.geometry.base import BaseGeometry

from app.config import PROJECT_ROOT
from app.domain.grid.cells import NewCell
from app.domain.grid.crs import from_wgs84, parse_crs, to_wgs84, transform
from app.domain.grid.generate import lattice_cells, metric_crs_for
from app.domain.grid.geometry import polygonal_part

DISTRICTS_FILE = PROJECT_ROOT / "geodata" / "xinxiang-urban-districts.gcj02.geojson"
CITY_CODE, CITY_NAME = "410700", "新乡市"
UNIT_SIZE_M = 500.0

STREETS = {
    "410702": [
        "西街街道",
        "东街街道",
        "渠东街道",
        "文化街街道",
        "向阳小区街道",
        "洪门镇",
        "小店镇",
        "关堤乡",
    ],
    "410703": [
        "中同街街道",
        "胜利路街道",
        "解放路街道",
        "健康路街道",
        "自由路街道",
        "铁西街道",
        "平原镇",
    ],
    "410704": ["宝西街道", "宝东街道", "耿黄镇", "大块镇", "潞王坟乡"],
    "410711": [
        "东干道街道",
        "花园街道",
        "卫北街道",
        "荣校路街道",
        "北干道街道",
        "新辉路街道",
        "王村镇",
        "牧野乡",
    ],
}
# Schematic course of the Wei River (卫河) across the city, WGS-84 lon/lat. Approximate.
WEI_RIVER = [
    (113.760, 35.268),
    (113.800, 35.276),
    (113.840, 35.286),
    (113.880, 35.298),
    (113.915, 35.310),
    (113.950, 35.317),
    (113.990, 35.328),
    (114.030, 35.345),
    (114.070, 35.362),
]


def _split(polygon: BaseGeometry, parts: int) -> list[MultiPolygon]:
    """Cut a WGS-84 polygon into about `parts` compact pieces (Voronoi around lattice seeds),
    ordered north-west to south-east. Computed in metres."""
    metric = metric_crs_for(polygon)
    local = transform(polygon, from_wgs84(metric))
    step = float(np.sqrt(local.area / parts))
    seeds: list[Point] = []
    while len(seeds) < parts and step > 10:
        minx, miny, maxx, maxy = local.bounds
        xs = np.arange(minx + step / 2, maxx, step)
        ys = np.arange(maxy - step / 2, miny, -step)
        seeds = [p for y in ys for x in xs if local.contains(p := Point(x, y))]
        step *= 0.9
    if len(seeds) < 2:
        return [polygonal_part(polygon)]
    if len(seeds) > parts:  # keep exactly `parts`, spread evenly over the lattice
        seeds = [seeds[int(i * len(seeds) / parts)] for i in range(parts)]
    envelope = shapely.box(*local.buffer(step * 2).bounds)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=envelope)
    back = to_wgs84(metric)
    pieces = []
    for seed in seeds:
        region = next(r for r in shapely.get_parts(cells) if r.covers(seed))
        piece = polygonal_part(polygon.intersection(transform(region, back)))
        if not piece.is_empty:
            pieces.append((-round(seed.y), round(seed.x), piece))
    pieces.sort(key=lambda p: (p[0], p[1]))
    return [p[2] for p in pieces]


def _districts() -> list[tuple[str, str, MultiPolygon]]:
    data = json.loads(Path(DISTRICTS_FILE).read_text(encoding="utf-8"))
    convert = to_wgs84(parse_crs("gcj02"))
    out = []
    for f in data["features"]:
        geom = shapely.geometry.shape(f["geometry"])
        out.append(
            (
                str(f["properties"]["adcode"]),
                f["properties"]["name"],
                polygonal_part(shapely.make_valid(transform(geom, convert))),
            )
        )
    return sorted(out)


def build_grid() -> list[NewCell]:
    """The demo city's cells, parents first."""
    districts = _districts()
    utm = CRS.from_epsg(32649)
    river_zone = transform(
        transform(LineString(WEI_RIVER), from_wgs84(utm)).buffer(1000), to_wgs84(utm)
    )
    city = polygonal_part(shapely.union_all([d[2] for d in districts]))
    cells = [NewCell(CITY_CODE, CITY_NAME, 1, None, city)]
    for code, name, geom in districts:
        cells.append(NewCell(code, name, 2, CITY_CODE, geom))
        for s, street_geom in enumerate(_split(geom, len(STREETS[code])), start=1):
            street_name = STREETS[code][s - 1]
            street_code = f"{code}{s:03d}"
            cells.append(NewCell(street_code, street_name, 3, code, street_geom))
            base = street_name.removesuffix("街道").removesuffix("镇").removesuffix("乡")
            village = street_name.endswith(("镇", "乡"))
            km2 = transform(street_geom, from_wgs84(metric_crs_for(street_geom))).area / 1e6
            for c, comm_geom in enumerate(_split(street_geom, int(np.clip(km2 / 3, 2, 12))), 1):
                comm_code = f"{street_code}{c:03d}"
                comm_name = f"{base}第{c}{'村' if village else '社区'}"
                cells.append(NewCell(comm_code, comm_name, 4, street_code, comm_geom))
                for n, unit in enumerate(lattice_cells(comm_geom, UNIT_SIZE_M, "square"), 1):
                    risk = (
                        "high"
                        if unit.intersects(river_zone)
                        else "low"
                        if code == "410704"
                        else "medium"
                    )
                    cells.append(
                        NewCell(
                            f"{comm_code}{n:03d}",
                            f"{comm_name}{n:03d}网格",
                            5,
                            comm_code,
                            unit,
                            risk=risk,
                        )
                    )
    return cells


# How diligent each community is (by its place in code order): the gap between two patrols,
# as a share of the cell's patrol interval, is drawn from this range; "poor" communities also
# let a cell go unvisited for several intervals now and then.
DILIGENCE = {"good": (0.35, 0.95), "fair": (0.5, 1.3), "poor": (0.7, 2.0)}
# The slopes of the communities' trends over the 90 days (negative: getting better).
TRENDS = (-0.5, 0.0, 0.0, 0.4)


def diligence(community_index: int) -> str:
    return ("good", "fair", "good", "poor", "good", "fair", "poor")[community_index % 7]
