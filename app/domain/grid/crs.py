"""Coordinate reference systems: anything pyproj knows, plus China's web datums.

GCJ-02 (AMap, Tencent) and BD-09 (Baidu) are not CRSs that pyproj knows: they are
obfuscations of WGS-84. `prcoords` inverts them iteratively (error < 1 cm), well inside the
2 m the SPEC allows; the one-step inverse errs up to ~4 m.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import prcoords
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from app.domain.errors import DomainError

CHINESE_WEB_DATUMS = ("gcj02", "bd09")
WGS84 = CRS.from_epsg(4326)


class CrsError(DomainError):
    """A CRS name gridwatch cannot use, or a position it cannot convert."""

    status_code = 422


Converter = Callable[[np.ndarray], np.ndarray]  # (n, 2) lon/lat or x/y -> (n, 2) lon/lat


def _datum_converter(name: str) -> Converter:
    inverse = prcoords.gcj_wgs_bored if name == "gcj02" else prcoords.bd_wgs_bored

    def convert(xy: np.ndarray) -> np.ndarray:
        out = np.empty_like(xy)
        for i, (lon, lat) in enumerate(xy):
            wgs = inverse(prcoords.Coords(lat, lon))
            out[i] = (wgs.lon, wgs.lat)
        return out

    return convert


def _forward_datum_converter(name: str) -> Converter:
    forward = prcoords.wgs_gcj if name == "gcj02" else prcoords.wgs_bd

    def convert(xy: np.ndarray) -> np.ndarray:
        out = np.empty_like(xy)
        for i, (lon, lat) in enumerate(xy):
            shifted = forward(prcoords.Coords(lat, lon))
            out[i] = (shifted.lon, shifted.lat)
        return out

    return convert


def normalise_crs_name(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")


def parse_crs(name: str) -> CRS | str:
    """A pyproj CRS, or one of CHINESE_WEB_DATUMS. Raises CrsError with the reason."""
    short = normalise_crs_name(name)
    if short in CHINESE_WEB_DATUMS:
        return short
    try:
        return CRS.from_user_input(name)
    except CRSError as exc:
        raise CrsError(
            f"unknown CRS {name!r}: give an EPSG code (e.g. EPSG:4490, EPSG:4547), a WKT/PROJ "
            f"string, or one of {', '.join(CHINESE_WEB_DATUMS)}"
        ) from exc


def to_wgs84(src: CRS | str) -> Converter:
    """A function mapping (n, 2) coordinates in `src` to WGS-84 lon/lat."""
    if isinstance(src, str):
        return _datum_converter(src)
    if src.equals(WGS84, ignore_axis_order=True):
        return lambda xy: xy
    transformer = Transformer.from_crs(src, WGS84, always_xy=True)

    def convert(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1], errcheck=True)
        return np.column_stack([x, y])

    return convert


def from_wgs84(dst: CRS | str) -> Converter:
    """The inverse of `to_wgs84` (used to write test fixtures and exports)."""
    if isinstance(dst, str):
        return _forward_datum_converter(dst)
    transformer = Transformer.from_crs(WGS84, dst, always_xy=True)

    def convert(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1], errcheck=True)
        return np.column_stack([x, y])

    return convert


def transform(geom: BaseGeometry, convert: Converter) -> BaseGeometry:
    """Apply a coordinate converter to every vertex (2D; Z is dropped)."""
    return shapely.transform(shapely.force_2d(geom), convert)


def points_to_wgs84(lonlat: np.ndarray, src: str) -> np.ndarray:
    """Positions given in `src` to WGS-84; CrsError when a result is not a place on Earth
    (the web-datum formulas diverge near the poles)."""
    try:
        out = to_wgs84(parse_crs(src))(np.asarray(lonlat, dtype=float))
    except (ValueError, ArithmeticError) as exc:
        raise CrsError(f"a position cannot be converted from {src}: {exc}") from None
    if (
        not np.isfinite(out).all()
        or (np.abs(out[:, 0]) > 180).any()
        or (np.abs(out[:, 1]) > 90).any()
    ):
        raise CrsError(f"a position converted from {src} falls outside the globe")
    return out


def point_to_wgs84(lon: float, lat: float, src: str) -> tuple[float, float]:
    """One position (e.g. a phone's GPS fix given in gcj02) to WGS-84 lon/lat."""
    out = points_to_wgs84(np.array([[lon, lat]], dtype=float), src)
    return float(out[0, 0]), float(out[0, 1])
