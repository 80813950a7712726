"""Run the `gridwatch` CLI in-process, against the test database."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from click.testing import Result
from pyproj import CRS
from shapely.geometry.base import BaseGeometry
from typer.testing import CliRunner

from app.cli import app
from app.domain.grid.crs import from_wgs84, transform


def run_cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def write_layer(
    path: Path, rows: list[dict[str, object]], crs: str | None, **kwargs: object
) -> Path:
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    frame.to_file(path, engine="pyogrio", **kwargs)
    return path


_TO_UTM = from_wgs84(CRS.from_epsg(32649))


def distance_m(a: BaseGeometry, b: BaseGeometry) -> float:
    """Hausdorff distance of two WGS-84 geometries, in metres (UTM 49N)."""
    return float(transform(a, _TO_UTM).hausdorff_distance(transform(b, _TO_UTM)))
