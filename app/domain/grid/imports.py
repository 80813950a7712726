"""`gridwatch import-grid`: cells from GeoJSON, GeoPackage or Shapefile (SPEC §2, §6).

Everything is checked before anything is written; one bad feature rejects the file, and the
message names each bad feature (1-based, as GIS software counts) with its code and the reason.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pyproj import CRS
from sqlalchemy.orm import Session

from app.domain import audit
from app.domain.audit import file_sha256
from app.domain.csvfile import formula_problem, shorten
from app.domain.errors import InputRejected
from app.domain.grid.cells import DEFAULT_RISK, NewCell, existing_cells, write_cells
from app.domain.grid.crs import CrsError, parse_crs, to_wgs84
from app.domain.grid.defects import LargeLeaf, large_leaves
from app.domain.grid.fields import ACCEPTED_RISKS, RISK_WORDS, Fields, resolve_fields, risk_of
from app.domain.grid.geometry import check_geometry
from app.domain.grid.layerfile import read_layer, unpack_zip
from app.domain.progress import NoProgress, Progress

MAX_CODE = 64  # as the API takes codes
MAX_NAME = 200
MAX_LEVELS = 32  # a real grid has a handful; deeper parent chains only make writing slow
UNICODE_OR_CHINESE = ("UTF-8", "UTF8", "GBK", "GB18030", "CP936")
__all__ = ["RISK_WORDS", "GridImportOptions", "import_grid", "prepare"]


@dataclass
class GridImportOptions:
    layer: str | None = None
    src_crs: str | None = None
    encoding: str | None = None
    # None: found by the usual names (app/domain/grid/fields.py)
    code_field: str | None = None
    name_field: str | None = None
    parent_field: str | None = None
    level: int | None = None  # of every cell; otherwise from a level field, or the tree
    level_field: str | None = None
    risk_field: str | None = None
    strict: bool = False  # reject invalid geometries instead of repairing them


@dataclass
class GridImportResult:
    inserted: int
    updated: int
    repaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the user should know, e.g. defaults
    large_leaves: list[LargeLeaf] = field(default_factory=list)  # warned about: 未划网格?
    cells: list[NewCell] = field(default_factory=list)  # as written (for a preview's map)


@dataclass
class Prepared:
    cells: list[NewCell]
    repaired: list[str]
    notes: list[str]
    fields: Fields


def _misread(value: str, read_as: str) -> str | None:
    """The encoding `value` really was in, when it is UTF-8 or GBK text that was decoded as
    `read_as` (a Shapefile without a .cpg is read as ISO-8859-1: 红旗区 becomes ºìÆìÇø)."""
    try:
        raw = value.encode(read_as)
    except (LookupError, UnicodeEncodeError):
        return None
    if raw.isascii():
        return None
    for encoding, min_cjk in (("UTF-8", 1), ("GBK", 2)):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if text != value and sum("\u4e00" <= ch <= "\u9fff" for ch in text) >= min_cjk:
            return encoding
    return None


def _text(value: object) -> str | None:
    """An attribute as text; None when it is not given: null, NaN, NaT, empty or blank."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.datetime64) and np.isnat(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value).strip()
    return s or None


def prepare(session: Session, path: Path, opts: GridImportOptions) -> Prepared:
    """Read and check the whole file. Returns the cells to write, the repairs made and notes
    for the user."""
    source = str(path)
    if opts.level is not None and not 1 <= opts.level <= MAX_LEVELS:
        raise InputRejected(source, [f"--level must be 1 … {MAX_LEVELS}, got {opts.level}"])
    with tempfile.TemporaryDirectory(prefix="gridwatch-grid-") as unpacked:
        inner = unpack_zip(path, Path(unpacked)) if path.suffix.lower() == ".zip" else path
        layer = read_layer(inner, opts.layer, opts.encoding)
    rows, read_as = layer.rows, layer.encoding
    # Text decoded with a legacy single-byte encoding (GDAL's guess for a Shapefile whose .dbf
    # declares none and whose text no Chinese encoding fits) may be garbled Chinese.
    guessed = None if opts.encoding or (read_as or "").upper() in UNICODE_OR_CHINESE else read_as
    if not rows:
        raise InputRejected(source, ["the layer has no features"])
    f = resolve_fields(
        source,
        list(rows[0]),
        {
            "code": opts.code_field,
            "name": opts.name_field,
            "parent": opts.parent_field,
            "risk": opts.risk_field,
            "level": None if opts.level is not None else opts.level_field,
        },
    )
    crs_name = opts.src_crs or layer.crs
    if crs_name is None:
        raise InputRejected(source, ["the file has no CRS; pass --src-crs (e.g. EPSG:4547)"])
    try:
        crs = parse_crs(crs_name)
    except CrsError as exc:
        raise InputRejected(source, [str(exc)]) from exc
    if isinstance(crs, CRS) and not (crs.is_geographic or crs.is_projected):
        raise InputRejected(source, [f"CRS {crs_name!r} is neither geographic nor projected"])
    crs_label = crs if isinstance(crs, str) else (crs.to_string() or crs_name)
    convert = to_wgs84(crs)

    problems: list[str] = []
    repaired: list[str] = []
    cells: list[NewCell] = []
    seen: dict[str, int] = {}
    without_risk: list[str] = []  # codes of cells whose risk field is blank
    for i, (row, geom) in enumerate(zip(rows, layer.geoms, strict=True), start=1):
        code = _text(row.get(f.code))
        label = f"feature {i}" + (f" (code {code})" if code else "")
        if code is None:
            problems.append(f"{label}: empty {f.code!r}")
            continue
        if len(code) > MAX_CODE:
            problems.append(f"feature {i}: {f.code} is longer than {MAX_CODE} characters")
            continue
        if code in seen:
            problems.append(f"{label}: code already used by feature {seen[code]}")
            continue
        seen[code] = i
        name = _text(row.get(f.name))
        if name is None:
            problems.append(f"{label}: empty {f.name!r}")
        elif len(name) > MAX_NAME:
            problems.append(f"{label}: {f.name} is longer than {MAX_NAME} characters")
        elif problem := formula_problem(f.name, name):
            problems.append(f"{label}: {problem}")
        elif guessed and (really := _misread(name, guessed)):
            problems.append(
                f"{label}: {f.name} {shorten(name)!r} looks like {really} text read as "
                f"{guessed}; pass --encoding {really} (or --encoding {guessed} if it is right)"
            )
        # A blank risk is not given, as when there is no risk field at all: a parent needs
        # none (only leaves are patrolled), a new leaf gets the default and a leaf already in
        # the grid keeps its stored risk (a re-import must not lower a high-risk cell).
        risk: str | None = None
        raw_risk = _text(row.get(f.risk)) if f.risk else None
        if raw_risk is None:
            if f.risk:
                without_risk.append(code)
        elif (word := risk_of(raw_risk)) is not None:
            risk = word
        else:
            problems.append(
                f"{label}: {f.risk} {shorten(raw_risk)!r} is not {ACCEPTED_RISKS}; leave it "
                "blank for the default"
            )
        level = opts.level
        if level is None and f.level and _text(row[f.level]):
            try:
                level = int(str(_text(row[f.level])))
            except ValueError:
                problems.append(
                    f"{label}: {f.level} {shorten(str(row[f.level]))!r} is not a whole number"
                )
            else:
                if not 1 <= level <= MAX_LEVELS:
                    problems.append(f"{label}: level {level} is not 1 … {MAX_LEVELS}")
        wgs, problem, was_repaired = check_geometry(geom, convert, str(crs_label), opts.strict)
        if wgs is None:
            problems.append(f"{label}: geometry {problem}")
            continue
        if was_repaired:
            repaired.append(f"{label}: {problem} (repaired)")
        parent = _text(row.get(f.parent)) if f.parent else None
        cells.append(
            NewCell(
                code=code, name=name or code, level=level, parent_code=parent, geom=wgs, risk=risk
            )
        )

    problems += _check_tree(session, cells, seen)
    if problems:
        # GDAL's own words last: they explain a geometry it could not parse (now "missing").
        raise InputRejected(source, problems + [f"GDAL: {w}" for w in layer.gdal_warnings])
    notes = layer.notes + [f"GDAL: {w}" for w in layer.gdal_warnings]
    if guessed_fields := {k: v for k, v in f.found().items() if v != k}:
        notes.append(
            "fields: " + ", ".join(f"{role} ← {name}" for role, name in guessed_fields.items())
        )
    if leaves := _leaves(session, cells, without_risk):
        shown = ", ".join(f"feature {seen[c]} (code {c})" for c in leaves[:5])
        more = f" and {len(leaves) - 5} more" if len(leaves) > 5 else ""
        notes.append(
            f"{len(leaves)} leaf cell(s) without a {f.risk} value (new cells get the default "
            f"risk {DEFAULT_RISK}, cells already in the grid keep their stored risk): "
            f"{shown}{more}"
        )
    return Prepared(cells, repaired, notes, f)


def _leaves(session: Session, cells: list[NewCell], codes: list[str]) -> list[str]:
    """Those of `codes` that are leaf cells: no cell in the file names them as parent, nor
    is one of them a parent in the grid already."""
    if not codes:
        return []
    parents = {c.parent_code for c in cells if c.parent_code}
    in_db = existing_cells(session, codes)
    return [c for c in codes if c not in parents and (c not in in_db or in_db[c].is_leaf)]


def _check_tree(session: Session, cells: list[NewCell], feature_of: dict[str, int]) -> list[str]:
    problems: list[str] = []
    in_file = {c.code: c for c in cells}
    in_db = existing_cells(
        session, [c.code for c in cells] + [c.parent_code for c in cells if c.parent_code]
    )
    for c in cells:
        label = f"feature {feature_of[c.code]} (code {c.code})"
        old = in_db.get(c.code)
        if old is not None and old.valid_to is not None:
            problems.append(
                f"{label}: code was retired on {old.valid_to:%Y-%m-%d}; "
                "a retired code is never reused"
            )
        if c.parent_code and c.parent_code not in in_file and c.parent_code not in in_db:
            problems.append(
                f"{label}: parent {shorten(c.parent_code)!r} is neither in the file nor in the grid"
            )
        # Walk up inside the file to catch cycles (a parent chain that comes back) and chains
        # too deep to be a grid.
        steps, cur = 0, c.parent_code
        while cur in in_file:
            if cur == c.code:
                problems.append(f"{label}: parent chain loops back to itself")
                break
            if steps == MAX_LEVELS - 1:  # cur is the ancestor MAX_LEVELS levels up
                problems.append(f"{label}: parent chain is more than {MAX_LEVELS} levels deep")
                break
            cur, steps = in_file[cur].parent_code, steps + 1
    return problems


def import_grid(
    session: Session, path: Path, opts: GridImportOptions, progress: Progress | None = None
) -> GridImportResult:
    """Check the file, then write all its cells in the caller's transaction."""
    prepared = prepare(session, path, opts)
    cells, repaired = prepared.cells, prepared.repaired
    inserted, updated = write_cells(session, cells, progress or NoProgress())
    large = large_leaves(session, codes=[c.code for c in cells])
    audit.record(
        session,
        "grid.import",
        "file",
        path.name,
        after={
            "sha256": file_sha256(path),
            "options": {k: v for k, v in vars(opts).items() if v is not None},
            "cells": len(cells),
            "inserted": inserted,
            "updated": updated,
            "repaired": repaired,
            "fields": prepared.fields.found(),
            "notes": prepared.notes,
            "large_leaves": [leaf.code for leaf in large],
        },
    )
    return GridImportResult(
        inserted=inserted,
        updated=updated,
        repaired=repaired,
        notes=prepared.notes,
        large_leaves=large,
        cells=cells,
    )
