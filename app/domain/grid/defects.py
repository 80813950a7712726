"""Partition defects: where sibling cells fail to tile their parent (SPEC §2)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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


def partition_defects(
    session: Session, within: str | None = None, min_area_m2: float | None = None
) -> list[Defect]:
    if within is not None:
        get_cell(session, within)  # 404 for an unknown code, not an empty answer
    threshold = get_settings().defect_min_area_m2 if min_area_m2 is None else min_area_m2
    rows = session.execute(load("partition_defects"), {"within": within, "min_area_m2": threshold})
    return [
        Defect(
            kind=r.kind,
            parent_code=r.parent_code,
            cells=[c for c in (r.cell_a, r.cell_b) if c],
            area_m2=round(float(r.area_m2), 2),
            geometry=json.loads(r.geometry),
        )
        for r in rows
    ]


def as_feature_collection(defects: list[Defect]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": d.geometry,
                "properties": {
                    "kind": d.kind,
                    "parent_code": d.parent_code,
                    "cells": d.cells,
                    "area_m2": d.area_m2,
                },
            }
            for d in defects
        ],
    }
