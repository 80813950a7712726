"""`import-grid`, `generate-grid`, `check-grid`, `import-roster`, `import-reports`: files in, with
every problem named and nothing half-imported."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import (
    app,
    err,
    fail,
    out,
    progress_bar,
    transaction,
)


@app.command("import-grid")
def import_grid(
    path: Path,
    layer: Annotated[str | None, typer.Option(help="layer of a GeoPackage")] = None,
    src_crs: Annotated[
        str | None,
        typer.Option(
            help="source CRS when the file has none or it is wrong: EPSG:4547, gcj02, bd09…"
        ),
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="attribute encoding, e.g. GBK")] = None,
    code_field: str = "code",
    name_field: str = "name",
    parent_field: Annotated[
        str | None, typer.Option(help="field with the parent cell code")
    ] = None,
    level: Annotated[int | None, typer.Option(help="level of every imported cell")] = None,
    risk_field: Annotated[str | None, typer.Option(help="field with high/medium/low")] = None,
    strict: Annotated[bool, typer.Option(help="reject invalid geometries, do not repair")] = False,
) -> None:
    """Import grid cells from GeoJSON, GeoPackage or Shapefile; all or nothing."""
    from app.domain.grid.imports import GridImportOptions
    from app.domain.grid.imports import import_grid as run

    opts = GridImportOptions(
        layer=layer,
        src_crs=src_crs,
        encoding=encoding,
        code_field=code_field,
        name_field=name_field,
        parent_field=parent_field,
        level=level,
        risk_field=risk_field,
        strict=strict,
    )
    with transaction() as session, progress_bar() as bar:
        result = run(session, path, opts, bar)
    for note in result.repaired:
        err.print(f"repaired {note}", highlight=False)
    for note in result.notes:
        err.print(f"note: {note}", highlight=False)
    out.print(
        f"{path}: {result.inserted} cells added, {result.updated} updated, "
        f"{len(result.repaired)} geometries repaired",
        highlight=False,
    )


@app.command("generate-grid")
def generate_grid(
    within: Annotated[str, typer.Option(help="code of the parent cell to fill")],
    size_m: Annotated[float, typer.Option(help="cell size in metres")],
    shape: Annotated[str, typer.Option(help="square or hex")] = "square",
    risk: Annotated[str, typer.Option(help="risk class of the new cells")] = "medium",
) -> None:
    """Fill a cell with unit cells of a regular lattice, coded per GB/T 30428.1."""
    from app.domain.grid.generate import generate_grid as run

    if risk not in ("high", "medium", "low"):
        fail(f"--risk must be high, medium or low, got {risk!r}")
    with transaction() as session, progress_bar() as bar:
        n = run(session, within=within, size_m=size_m, shape=shape, risk=risk, progress=bar)
    out.print(f"{n} {shape} unit cells of {size_m:g} m generated under {within}")


@app.command("check-grid")
def check_grid(
    within: Annotated[str | None, typer.Option(help="only this cell's subtree")] = None,
    min_area_m2: Annotated[float | None, typer.Option(help="ignore smaller pieces")] = None,
) -> None:
    """List partition defects: gaps between sibling cells, overlaps, cells outside parents.
    Exits 4 when there are defects."""
    from app.domain.grid.defects import partition_defects

    with transaction() as session:
        defects = partition_defects(session, within, min_area_m2)
    for d in defects:
        cells = " × ".join(d.cells) if d.cells else "-"
        out.print(
            f"{d.kind:8} parent {d.parent_code}  cells {cells}  {d.area_m2:,.1f} m²",
            highlight=False,
        )
    kinds = {k: sum(d.kind == k for d in defects) for k in ("gap", "overlap", "outside")}
    out.print(
        f"{len(defects)} partition defects ({kinds['gap']} gaps, {kinds['overlap']} "
        f"overlaps, {kinds['outside']} outside the parent)" + (f" under {within}" if within else "")
    )
    if defects:
        raise typer.Exit(4)


# --- people --------------------------------------------------------------------------------


@app.command("import-roster")
def import_roster(
    path: Path,
    encoding: Annotated[str, typer.Option(help="file encoding, e.g. GBK")] = "utf-8-sig",
) -> None:
    """Import duty assignments (cell_code,duty,username,name,phone,valid_from,valid_to)."""
    from app.domain.people.roster import import_roster as run

    with transaction() as session, progress_bar() as bar:
        r = run(session, path, encoding, bar)
    out.print(
        f"{path}: {r.duties_added} duties added, {r.duties_updated} updated, "
        f"{r.persons_added} new persons",
        highlight=False,
    )


@app.command("import-reports")
def import_reports(
    path: Path,
    encoding: Annotated[str, typer.Option(help="file encoding, e.g. GBK")] = "utf-8-sig",
) -> None:
    """Import historical reports (id,username,lat,lon,accuracy_m,observed_at,kind,category,
    description) with the API's rules and flags, except late_sync; all or nothing."""
    from app.domain.reports.imports import import_reports as run

    with transaction() as session, progress_bar() as bar:
        r = run(session, path, encoding, bar)
    out.print(
        f"{path}: {r.added} reports added ({r.counted} counted, {r.flagged} flagged), "
        f"{r.unchanged} already present",
        highlight=False,
    )
