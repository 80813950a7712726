"""`gridwatch import-grid`: cells from GeoJSON, GeoPackage or Shapefile (SPEC §2, §6).

Everything is checked before anything is written; one bad feature rejects the file, and the
message names each bad feature (1-based, as GIS software counts) with its code and the reason.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyogrio
from pyproj import CRS
from sqlalchemy.orm import Session

from app.domain import audit
from app.domain.audit import file_sha256
from app.domain.csvfile import formula_problem, shorten
from app.domain.errors import InputRejected
from app.domain.grid.cells import DEFAULT_RISK, NewCell, existing_cells, write_cells
from app.domain.grid.crs import CrsError, parse_crs, to_wgs84
from app.domain.grid.geometry import FeatureGeometry, check_geometry, decode
from app.domain.progress import NoProgress, Progress

RISK_WORDS = {
    "high": "high",
    "medium": "medium",
    "low": "low",
    "高": "high",
    "中": "medium",
    "低": "low",
    "h": "high",
    "m": "medium",
    "l": "low",
}
MAX_CODE = 64  # as the API takes codes
MAX_NAME = 200
MAX_LEVELS = 32  # a real grid has a handful; deeper parent chains only make writing slow


@dataclass
class GridImportOptions:
    layer: str | None = None
    src_crs: str | None = None
    encoding: str | None = None
    code_field: str = "code"
    name_field: str = "name"
    parent_field: str | None = None
    level: int | None = None
    risk_field: str | None = None
    strict: bool = False  # reject invalid geometries instead of repairing them


@dataclass
class GridImportResult:
    inserted: int
    updated: int
    repaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the user should know, e.g. defaults


@dataclass
class Layer:
    rows: list[dict[str, object]]  # attributes, one dict per feature
    geoms: list[FeatureGeometry]
    crs: str | None  # as the file declares it
    encoding: str | None  # what its text was read with
    gdal_warnings: list[str]  # what GDAL said while reading, e.g. a geometry it dropped


@dataclass
class Prepared:
    cells: list[NewCell]
    repaired: list[str]
    notes: list[str]


def _sibling(path: Path, suffix: str) -> Path | None:
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.exists():
            return candidate
    return None


def _declared_size(path: Path) -> int | None:
    """The size a Shapefile part says it has: the .shp/.shx header's file length, or the .dbf
    header's length plus its records. None when the header itself is cut short."""
    with path.open("rb") as f:
        head = f.read(100)
    if path.suffix.lower() == ".dbf":
        if len(head) < 12:
            return None
        records = int.from_bytes(head[4:8], "little")
        return int.from_bytes(head[8:10], "little") + records * int.from_bytes(
            head[10:12], "little"
        )
    return int.from_bytes(head[24:28], "big") * 2 if len(head) == 100 else None


def _shapefile_problems(path: Path) -> list[str]:
    """A Shapefile is three files; GDAL reads a missing .dbf as "no attributes" and a cut .shp
    as features without geometry, so both are checked here and named."""
    problems: list[str] = []
    parts = [path]
    for suffix, what in ((".shx", "index"), (".dbf", "attribute")):
        part = _sibling(path, suffix)
        if part is None:
            problems.append(
                f"the {what} file {path.stem}{suffix} is missing next to {path.name} "
                "(a Shapefile is .shp, .shx and .dbf together)"
            )
        else:
            parts.append(part)
    for part in parts:
        size, declared = part.stat().st_size, _declared_size(part)
        if declared is None or size < declared:
            problems.append(
                f"{part.name} is truncated ({size:,} bytes"
                + (f" of {declared:,}" if declared else "")
                + "; an interrupted copy?)"
            )
    return problems


def _read(path: Path, opts: GridImportOptions) -> Layer:
    if not path.exists():
        raise InputRejected(str(path), ["file not found"])
    if path.is_file():
        if path.stat().st_size == 0:
            raise InputRejected(str(path), ["the file is empty"])
        if path.suffix.lower() == ".shp" and (problems := _shapefile_problems(path)):
            raise InputRejected(str(path), problems)
    try:
        # GDAL's warnings (a geometry it could not parse and set to null, a ring it found
        # open) are kept for the message instead of reaching the terminal as Python warnings.
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            meta = pyogrio.read_info(path, layer=opts.layer, encoding=opts.encoding)
            _, _, geometry, field_data = pyogrio.raw.read(
                path, layer=opts.layer, encoding=opts.encoding
            )
    except Exception as exc:  # GDAL reports broken files in many ways; all are "cannot read"
        if "not recognized as being in a supported file format" in str(exc):
            raise InputRejected(
                str(path), ["not a GeoJSON, GeoPackage or Shapefile (GDAL cannot tell its format)"]
            ) from exc
        hint = " (try --encoding GBK?)" if isinstance(exc, UnicodeDecodeError) else ""
        raise InputRejected(str(path), [f"cannot read the file: {exc}{hint}"]) from exc
    names = list(meta["fields"])
    rows = [{name: field_data[j][i] for j, name in enumerate(names)} for i in range(len(geometry))]
    gdal_warnings = list(
        dict.fromkeys(
            str(w.message).strip()
            for w in said
            # An open ring is named per feature (grid_geometry), with no GDAL setting to try.
            if "Non closed ring detected" not in str(w.message)
        )
    )
    return Layer(rows, decode(geometry), meta.get("crs"), meta.get("encoding"), gdal_warnings)


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
    layer = _read(path, opts)
    rows, read_as = layer.rows, layer.encoding
    # Text decoded with a legacy single-byte encoding (GDAL's guess for a Shapefile without a
    # .cpg) may be garbled Chinese.
    guessed = None if opts.encoding or (read_as or "").upper() in ("UTF-8", "UTF8") else read_as
    if not rows:
        raise InputRejected(source, ["the layer has no features"])
    fields = set(rows[0])
    missing = [
        f
        for f in (opts.code_field, opts.name_field, opts.parent_field, opts.risk_field)
        if f and f not in fields
    ]
    if missing:
        raise InputRejected(
            source,
            [
                f"field {m!r} not in the layer; fields are: {', '.join(sorted(fields)) or '(none)'}"
                for m in missing
            ],
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
        code = _text(row.get(opts.code_field))
        label = f"feature {i}" + (f" (code {code})" if code else "")
        if code is None:
            problems.append(f"{label}: empty {opts.code_field!r}")
            continue
        if len(code) > MAX_CODE:
            problems.append(f"feature {i}: {opts.code_field} is longer than {MAX_CODE} characters")
            continue
        if code in seen:
            problems.append(f"{label}: code already used by feature {seen[code]}")
            continue
        seen[code] = i
        name = _text(row.get(opts.name_field))
        if name is None:
            problems.append(f"{label}: empty {opts.name_field!r}")
        elif len(name) > MAX_NAME:
            problems.append(f"{label}: {opts.name_field} is longer than {MAX_NAME} characters")
        elif problem := formula_problem(opts.name_field, name):
            problems.append(f"{label}: {problem}")
        elif guessed and (really := _misread(name, guessed)):
            problems.append(
                f"{label}: {opts.name_field} {shorten(name)!r} looks like {really} text read as "
                f"{guessed}; pass --encoding {really} (or --encoding {guessed} if it is right)"
            )
        # A blank risk is not given: a parent needs none (only leaves are patrolled) and a
        # leaf gets the default, as when there is no risk field at all.
        risk = DEFAULT_RISK
        raw_risk = _text(row.get(opts.risk_field)) if opts.risk_field else None
        if raw_risk is None:
            if opts.risk_field:
                without_risk.append(code)
        elif raw_risk.lower() in RISK_WORDS:
            risk = RISK_WORDS[raw_risk.lower()]
        else:
            problems.append(
                f"{label}: {opts.risk_field} {shorten(raw_risk)!r} is not high/medium/low "
                "(or 高/中/低; leave it blank for the default)"
            )
        level = opts.level
        if level is None and "level" in row and _text(row["level"]):
            try:
                level = int(str(_text(row["level"])))
            except ValueError:
                problems.append(
                    f"{label}: level {shorten(str(row['level']))!r} is not a whole number"
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
        parent = _text(row.get(opts.parent_field)) if opts.parent_field else None
        cells.append(
            NewCell(
                code=code, name=name or code, level=level, parent_code=parent, geom=wgs, risk=risk
            )
        )

    problems += _check_tree(session, cells, seen)
    if problems:
        # GDAL's own words last: they explain a geometry it could not parse (now "missing").
        raise InputRejected(source, problems + [f"GDAL: {w}" for w in layer.gdal_warnings])
    notes = [f"GDAL: {w}" for w in layer.gdal_warnings]
    if leaves := _leaves(session, cells, without_risk):
        shown = ", ".join(f"feature {seen[c]} (code {c})" for c in leaves[:5])
        more = f" and {len(leaves) - 5} more" if len(leaves) > 5 else ""
        notes.append(
            f"{len(leaves)} leaf cell(s) without a {opts.risk_field} value get the default "
            f"risk {DEFAULT_RISK}: {shown}{more}"
        )
    return Prepared(cells, repaired, notes)


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
            "notes": prepared.notes,
        },
    )
    return GridImportResult(
        inserted=inserted, updated=updated, repaired=repaired, notes=prepared.notes
    )
