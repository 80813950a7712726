"""The grid's own checks: partition defects, where sibling cells fail to tile their parent
(SPEC §2), and leaf cells far larger than a unit cell (a district whose grid is not drawn yet:
patrolled as one unit cell and painted as one blind spot). Each comes with its geometry and a
location — a point inside it, in longitude/latitude — to find it by."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shapely.geometry import shape
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain.grid.cells import get_cell
from app.sql import load


@dataclass
class Defect:
    kind: str  # gap | overlap | outside
    parent_code: str
    cells: list[str]
    area_m2: float
    geometry: dict[str, Any]
    location: tuple[float, float]  # lon, lat of a point inside the defect


@dataclass
class LargeLeaf:
    code: str
    name: str
    area_m2: float
    median_m2: float | None  # of the leaves around it (None when too few to compare)
    geometry: dict[str, Any]
    location: tuple[float, float]

    def describe(self) -> str:
        typical = (
            f", the median unit cell has {self.median_m2 / 1e6:,.2f} km²"
            if self.median_m2 is not None
            else ""
        )
        return (
            f"cell {self.code} {self.name} is a unit cell (leaf) of {self.area_m2 / 1e6:,.1f} km²"
            f"{typical} — 未划网格? its grid is not drawn yet: import its unit cells, or "
            f"`gridwatch generate-grid --within {self.code} --size-m 500`; until then it is "
            f"patrolled as one cell (at {self.location[0]:.5f}, {self.location[1]:.5f})"
        )


def _inside(geometry: dict[str, Any]) -> tuple[float, float]:
    """A point inside the piece (a centroid may lie outside a ring-shaped gap)."""
    point = shape(geometry).representative_point()
    return round(point.x, 6), round(point.y, 6)


def partition_defects(
    session: Session, within: str | None = None, min_area_m2: float | None = None
) -> list[Defect]:
    if within is not None:
        get_cell(session, within)  # 404 for an unknown code, not an empty answer
    threshold = get_settings().defect_min_area_m2 if min_area_m2 is None else min_area_m2
    rows = session.execute(load("partition_defects"), {"within": within, "min_area_m2": threshold})
    defects = []
    for r in rows:
        geometry = json.loads(r.geometry)
        defects.append(
            Defect(
                kind=r.kind,
                parent_code=r.parent_code,
                cells=[c for c in (r.cell_a, r.cell_b) if c],
                area_m2=round(float(r.area_m2), 2),
                geometry=geometry,
                location=_inside(geometry),
            )
        )
    return defects


def large_leaves(
    session: Session, within: str | None = None, codes: list[str] | None = None
) -> list[LargeLeaf]:
    """Leaf cells far larger than a unit cell, under `within` (all when None), only those of
    `codes` when given (the cells an import wrote)."""
    settings = get_settings()
    rows = session.execute(
        load("large_leaves"),
        {
            "within": within,
            "codes": codes,
            "max_m2": settings.large_leaf_km2 * 1e6,
            "factor": settings.large_leaf_factor,
            "min_leaves": settings.large_leaf_min_leaves,
        },
    )
    return [
        LargeLeaf(
            code=r.code,
            name=r.name,
            area_m2=round(float(r.area_m2), 1),
            median_m2=float(r.median_m2) if r.leaves >= settings.large_leaf_min_leaves else None,
            geometry=json.loads(r.geometry),
            location=(round(float(r.lon), 6), round(float(r.lat), 6)),
        )
        for r in rows
    ]


def as_feature_collection(
    defects: list[Defect], large: list[LargeLeaf] | None = None
) -> dict[str, Any]:
    """Defects (and large leaves, kind `large_leaf`) as GeoJSON, with their locations."""
    features = [
        {
            "type": "Feature",
            "geometry": d.geometry,
            "properties": {
                "kind": d.kind,
                "parent_code": d.parent_code,
                "cells": d.cells,
                "area_m2": d.area_m2,
                "location": list(d.location),
            },
        }
        for d in defects
    ]
    features += [
        {
            "type": "Feature",
            "geometry": leaf.geometry,
            "properties": {
                "kind": "large_leaf",
                "cells": [leaf.code],
                "name": leaf.name,
                "area_m2": leaf.area_m2,
                "median_leaf_m2": leaf.median_m2,
                "location": list(leaf.location),
            },
        }
        for leaf in large or []
    ]
    return {"type": "FeatureCollection", "features": features}
