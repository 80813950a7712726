"""Reading a grid file (SPEC §2): GeoJSON, GeoPackage, a Shapefile — alone or zipped with its
parts — into attributes and geometries, with every way a file can be broken named.

A Shapefile's .dbf says nothing of its text encoding unless a .cpg (or the rarely set code-page
byte) does, and GDAL then reads it as ISO-8859-1: a bureau's GBK names come out as ºìÆìÇø.
Without a .cpg the encoding is detected here instead: UTF-8 when all the text is valid UTF-8,
else GBK, else GB18030.
"""

from __future__ import annotations

import shutil
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pyogrio

from app.domain.errors import InputRejected
from app.domain.grid.geometry import FeatureGeometry, decode

GRID_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json")
MAX_UNZIPPED_BYTES = 2 * 1024**3  # a province's grid is some hundreds of MB; a zip bomb more
MAX_ZIP_MEMBERS = 10_000


@dataclass
class Layer:
    rows: list[dict[str, object]]  # attributes, one dict per feature
    geoms: list[FeatureGeometry]
    crs: str | None  # as the file declares it
    encoding: str | None  # what its text was read with
    gdal_warnings: list[str]  # what GDAL said while reading, e.g. a geometry it dropped
    notes: list[str] = field(default_factory=list)  # how it was read (a detected encoding)


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


def dbf_encoding(shp: Path) -> str | None:
    """The encoding of a Shapefile's attribute text when nothing declares it: "UTF-8", "GBK"
    or "GB18030" as the bytes decode; None when a .cpg or the code-page byte declares one
    (GDAL honours those), when the text is plain ASCII, or when no encoding fits."""
    dbf = _sibling(shp, ".dbf")
    if dbf is None or _sibling(shp, ".cpg") is not None:
        return None
    data = dbf.read_bytes()
    if len(data) < 32 or data[29] != 0:  # byte 29: the dBase language driver (code page)
        return None
    text = data[32:]  # field names and records; numbers and flags are ASCII
    if text.isascii():
        return None
    for encoding in ("UTF-8", "GBK", "GB18030"):
        try:
            text.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return None


def read_layer(path: Path, layer: str | None, encoding: str | None) -> Layer:
    """Attributes and geometries of the layer; InputRejected names what makes it unreadable."""
    if not path.exists():
        raise InputRejected(str(path), ["file not found"])
    notes: list[str] = []
    if path.is_file():
        if path.stat().st_size == 0:
            raise InputRejected(str(path), ["the file is empty"])
        if path.suffix.lower() == ".shp":
            if problems := _shapefile_problems(path):
                raise InputRejected(str(path), problems)
            if encoding is None and (detected := dbf_encoding(path)):
                encoding = detected
                notes.append(
                    f"{path.stem}.dbf has no .cpg file saying its encoding: its text was read "
                    f"as {detected} (detected)"
                )
    try:
        # GDAL's warnings (a geometry it could not parse and set to null, a ring it found
        # open) are kept for the message instead of reaching the terminal as Python warnings.
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            meta = pyogrio.read_info(path, layer=layer, encoding=encoding)
            _, _, geometry, field_data = pyogrio.raw.read(path, layer=layer, encoding=encoding)
    except Exception as exc:  # GDAL reports broken files in many ways; all are "cannot read"
        if "not recognized as being in a supported file format" in str(exc):
            raise InputRejected(
                str(path), ["not a GeoJSON, GeoPackage or Shapefile (GDAL cannot tell its format)"]
            ) from exc
        hint = " (try --encoding GBK?)" if isinstance(exc, UnicodeDecodeError) else ""
        raise InputRejected(str(path), [f"cannot read the file: {exc}{hint}"]) from exc
    if geometry is None:
        raise InputRejected(
            str(path), ["the file has no geometries: a table (a roster?), not a grid file"]
        )
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
    return Layer(
        rows, decode(geometry), meta.get("crs"), meta.get("encoding"), gdal_warnings, notes
    )


def unpack_zip(archive: Path, into: Path) -> Path:
    """The grid file inside a .zip (a Shapefile with its parts, a GeoPackage or a GeoJSON),
    extracted into the folder `into`. Refused: archives with no grid file or several, paths
    that leave the folder, and more than MAX_UNZIPPED_BYTES unpacked."""
    source = str(archive)
    try:
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.infolist() if not m.is_dir()]
            if len(members) > MAX_ZIP_MEMBERS:
                raise InputRejected(source, [f"the archive holds over {MAX_ZIP_MEMBERS:,} files"])
            if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
                raise InputRejected(
                    source, [f"the archive unpacks to more than {MAX_UNZIPPED_BYTES:,} bytes"]
                )
            grids: list[Path] = []
            for m in members:
                name = PurePosixPath(m.filename.replace("\\", "/"))
                if name.is_absolute() or ".." in name.parts:
                    raise InputRejected(source, [f"the archive names a path outside it: {name}"])
                if name.parts[0] == "__MACOSX" or name.name.startswith("._"):
                    continue  # macOS resource forks, not data
                target = into.joinpath(*name.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(m) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                if target.suffix.lower() in GRID_SUFFIXES:
                    grids.append(target)
    except zipfile.BadZipFile as exc:
        raise InputRejected(source, [f"not a readable .zip archive: {exc}"]) from None
    if len(grids) != 1:
        found = ", ".join(sorted(g.name for g in grids)) or "none"
        raise InputRejected(
            source,
            [
                "the archive must hold exactly one grid file (.shp with its .shx and .dbf, "
                f".gpkg or .geojson); it holds: {found}"
            ],
        )
    return grids[0]
