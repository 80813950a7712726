"""Importing a bureau's files through the import page (/admin/import): a grid file or a
roster, previewed, then confirmed — by the very functions `gridwatch import-grid` and
`gridwatch import-roster` run, so the page checks and writes exactly what the commands do.

A preview is the import itself inside a savepoint that is rolled back: every check, every
count, every warning is the real one, and nothing of it (audit entries included) remains.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.errors import Conflict, InputRejected
from app.domain.grid.imports import GridImportOptions, import_grid
from app.domain.people.roster import import_roster
from app.models import Cell

KINDS = ("grid", "roster")
GRID_SUFFIXES = (".zip", ".gpkg", ".geojson", ".json")
ROSTER_SUFFIXES = (".xlsx", ".xlsm", ".csv", ".txt", ".xls")
MAP_CELLS = 2000  # cells drawn on the preview's map; the counts are always complete
MAP_TOLERANCE = 0.00001  # degrees (about 1 m): outlines for the eye, not for storage


@dataclass
class ImportOutcome:
    kind: str
    sha256: str
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cells: dict[str, Any] = field(default_factory=dict)  # a GeoJSON FeatureCollection
    total_cells: int = 0


def safe_name(filename: str) -> str:
    """The uploaded file's own name, fit for a folder: its last part, without anything a file
    system or a terminal would read specially."""
    name = re.split(r"[\\/]", filename)[-1]
    name = re.sub(r"[^\w.\-\u3400-\u9fff]+", "_", name).strip("._")[-120:]
    return name or "upload"


def kind_of(filename: str, chosen: str | None) -> str:
    if chosen in KINDS:
        return str(chosen)
    suffix = Path(filename).suffix.lower()
    if suffix in GRID_SUFFIXES:
        return "grid"
    if suffix in ROSTER_SUFFIXES:
        return "roster"
    if suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        raise InputRejected(
            filename,
            [
                "a Shapefile is several files (.shp, .shx, .dbf, with .prj and .cpg): put them "
                "into one .zip and upload that"
            ],
        )
    raise InputRejected(
        filename,
        [
            "cannot tell what this file is from its name: a grid file is .zip (a Shapefile), "
            ".gpkg or .geojson, a roster .xlsx or .csv; or choose the kind"
        ],
    )


def run_import(session: Session, kind: str, path: Path) -> ImportOutcome:
    """Import the file in the caller's transaction; InputRejected when any of it is wrong."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if kind == "grid":
        g = import_grid(session, path, GridImportOptions())
        return ImportOutcome(
            kind=kind,
            sha256=digest,
            counts={
                "cells": len(g.cells),
                "inserted": g.inserted,
                "updated": g.updated,
                "repaired": len(g.repaired),
                "large_leaves": len(g.large_leaves),
            },
            notes=[f"repaired {r}" for r in g.repaired] + g.notes,
            warnings=[leaf.describe() for leaf in g.large_leaves],
            cells=_grid_map(g.cells, {leaf.code for leaf in g.large_leaves}),
            total_cells=len(g.cells),
        )
    r = import_roster(session, path)
    return ImportOutcome(
        kind=kind,
        sha256=digest,
        counts={
            "rows": r.rows,
            "persons_added": r.persons_added,
            "duties_added": r.duties_added,
            "duties_updated": r.duties_updated,
        },
        notes=r.notes,
        cells=_roster_map(session, r.cell_codes),
        total_cells=len(r.cell_codes),
    )


def preview_import(session: Session, kind: str, path: Path) -> ImportOutcome:
    """The import, rolled back: what confirming would do, and nothing done."""
    savepoint = session.begin_nested()
    try:
        return run_import(session, kind, path)
    finally:
        savepoint.rollback()


def _feature(code: str, name: str, geom: Any, large: bool) -> dict[str, Any]:
    outline = shapely.simplify(geom, MAP_TOLERANCE, preserve_topology=True)
    return {
        "type": "Feature",
        "geometry": shapely.geometry.mapping(outline),
        "properties": {"code": code, "name": name, "large": large},
    }


def _grid_map(cells: list[Any], large: set[str]) -> dict[str, Any]:
    # Unit cells (no cell of the file names them as parent) first: they are what is patrolled.
    parents = {c.parent_code for c in cells if c.parent_code}
    shown = sorted(cells, key=lambda c: (c.code in parents, c.code))[:MAP_CELLS]
    return {
        "type": "FeatureCollection",
        "features": [_feature(c.code, c.name, c.geom, c.code in large) for c in shown],
    }


def _roster_map(session: Session, codes: list[str]) -> dict[str, Any]:
    outline = func.ST_AsGeoJSON(func.ST_SimplifyPreserveTopology(Cell.geom, MAP_TOLERANCE), 6)
    rows = session.execute(
        select(Cell.code, Cell.name, outline).where(Cell.code.in_(codes[:MAP_CELLS]))
    )
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": json.loads(geometry),
                "properties": {"code": code, "name": name, "large": False},
            }
            for code, name, geometry in rows
        ],
    }


@contextmanager
def saved_upload(filename: str | None, stream: BinaryIO) -> Iterator[Path]:
    """The uploaded bytes as a file under its own (safe) name in a private folder, removed
    afterwards: the importers read files, and name them in their messages."""
    with tempfile.TemporaryDirectory(prefix="gridwatch-upload-") as folder:
        path = Path(folder) / safe_name(filename or "")
        with path.open("wb") as out:
            shutil.copyfileobj(stream, out)
        yield path


def confirm_import(session: Session, kind: str, path: Path, previewed: str) -> ImportOutcome:
    """The import, written (the caller commits) — of the very file that was previewed."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != previewed:
        raise Conflict(
            f"{path.name} is not the file that was previewed (its content differs); preview it "
            "again before confirming"
        )
    return run_import(session, kind, path)
