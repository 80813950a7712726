"""The geometry of each imported grid feature (SPEC §2): decoded one by one, so that a broken
one is named instead of failing the whole read; checked (polygonal, finite, on the globe after
conversion); and, unless strict, invalid ones repaired with make_valid.

GDAL passes some broken geometries through as they are (a ring whose last point is not its
first, a ring of one or two points) and GEOS refuses to build them; such a feature becomes
`Unreadable` with the reason in the user's words.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from app.domain.grid.crs import Converter, transform

# What GEOS says when it cannot build a geometry, and what that means to the user.
_GEOS_READ_ERRORS = (
    (
        "do not form a closed linestring",
        "has a ring that is not closed (its last point is not its first)",
    ),
    ("must contain 0 or >1 elements", "has a ring of a single point"),
    (
        "Invalid number of points in LinearRing",
        "has a ring with too few points (a ring needs at least 4, the last repeating the first)",
    ),
)


@dataclass(frozen=True)
class Unreadable:
    """A feature's geometry that GEOS could not build, and why."""

    reason: str


FeatureGeometry = BaseGeometry | Unreadable | None


def _why_unreadable(wkb: bytes) -> str:
    try:
        shapely.from_wkb(wkb)
    except (GEOSException, ValueError) as exc:
        message = str(exc).strip()
        for needle, meaning in _GEOS_READ_ERRORS:
            if needle in message:
                return meaning
        return "cannot be read: " + re.sub(r"^\w+Exception: ", "", message)
    return "cannot be read"


def decode(wkbs: Sequence[bytes | None]) -> list[FeatureGeometry]:
    """Each feature's geometry from GDAL's WKB: a geometry, None (no geometry) or Unreadable.

    Decoded all at once; only the features GEOS refuses are decoded again, one by one, for
    the reason."""
    array = np.empty(len(wkbs), dtype=object)
    array[:] = list(wkbs)
    with warnings.catch_warnings():
        # NaN coordinates make shapely warn; check_geometry names them per feature.
        warnings.simplefilter("ignore", RuntimeWarning)
        geoms = shapely.from_wkb(array, on_invalid="ignore")
    return [
        Unreadable(_why_unreadable(wkb)) if geom is None and wkb is not None else geom
        for wkb, geom in zip(wkbs, geoms, strict=True)
    ]


def polygonal_part(geom: BaseGeometry) -> MultiPolygon:
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    if not parts:
        # make_valid may return a collection holding polygons among lines and points.
        parts = [
            q
            for p in shapely.get_parts(geom)
            for q in shapely.get_parts(p)
            if isinstance(q, Polygon) and not q.is_empty
        ]
    return MultiPolygon(parts)


def check_geometry(
    geom: FeatureGeometry, convert: Converter, crs_label: str, strict: bool
) -> tuple[MultiPolygon | None, str | None, bool]:
    """(geometry in WGS-84, problem, repaired). The problem completes "geometry …"."""
    if isinstance(geom, Unreadable):
        return None, geom.reason, False
    try:
        return _check(geom, convert, crs_label, strict)
    except GEOSException as exc:  # GEOS refusing an operation on what it built itself
        return None, "cannot be checked: " + re.sub(r"^\w+Exception: ", "", str(exc)), False


def _check(
    geom: BaseGeometry | None, convert: Converter, crs_label: str, strict: bool
) -> tuple[MultiPolygon | None, str | None, bool]:
    if geom is None or not isinstance(geom, BaseGeometry) or geom.is_empty:
        return None, "is empty or missing", False
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return None, f"is a {geom.geom_type}, not a polygon", False
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        return None, "has non-finite coordinates (NaN or infinity)", False
    try:
        wgs = transform(geom, convert)
    except Exception as exc:  # pyproj raises ProjError, prcoords ValueError
        return None, f"cannot be converted from {crs_label}: {exc}", False
    lonlat = shapely.get_coordinates(wgs)
    if (
        not np.isfinite(lonlat).all()
        or (np.abs(lonlat[:, 0]) > 180).any()
        or (np.abs(lonlat[:, 1]) > 90).any()
    ):
        return (
            None,
            (f"lies outside the globe after conversion from {crs_label} (is --src-crs right?)"),
            False,
        )
    if wgs.is_valid:
        return polygonal_part(wgs), None, False
    reason = explain_validity(wgs)
    if strict:
        return None, f"is invalid: {reason}", False
    fixed = polygonal_part(shapely.make_valid(wgs))
    if fixed.is_empty:
        return None, f"is invalid ({reason}) and repairing it leaves no area", False
    return fixed, reason, True
