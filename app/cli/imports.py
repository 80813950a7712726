"""`import-grid`, `generate-grid`, `check-grid`, `import-roster`, `import-reports`: files in, with
every problem named and nothing half-imported."""

from __future__ import annotations

import json
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
    encoding: Annotated[
        str | None,
        typer.Option(help="attribute encoding, e.g. GBK (default: the .cpg's, else detected)"),
    ] = None,
    code_field: Annotated[
        str | None, typer.Option(help="field with the cell code (default: code, 网格编码…)")
    ] = None,
    name_field: Annotated[
        str | None, typer.Option(help="field with the name (default: name, 网格名称…)")
    ] = None,
    parent_field: Annotated[
        str | None,
        typer.Option(help="field with the parent cell code (default: parent, 上级编码…)"),
    ] = None,
    level: Annotated[int | None, typer.Option(help="level of every imported cell")] = None,
    level_field: Annotated[
        str | None, typer.Option(help="field with the level (default: level, 层级…)")
    ] = None,
    risk_field: Annotated[
        str | None,
        typer.Option(help="field with high/medium/low, 高/中/低… (default: risk, 风险等级…)"),
    ] = None,
    strict: Annotated[bool, typer.Option(help="reject invalid geometries, do not repair")] = False,
) -> None:
    """Import grid cells from GeoJSON, GeoPackage or Shapefile (alone or zipped); all or
    nothing. Fields named in English or Chinese are found without options."""
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
        level_field=level_field,
        risk_field=risk_field,
        strict=strict,
    )
    with transaction() as session, progress_bar() as bar:
        result = run(session, path, opts, bar)
    for note in result.repaired:
        err.print(f"repaired {note}", highlight=False)
    for note in result.notes:
        err.print(f"note: {note}", highlight=False)
    for leaf in result.large_leaves:
        err.print(f"warning: {leaf.describe()}", highlight=False)
    out.print(
        f"{path}: {result.inserted} cells added, {result.updated} updated, "
        f"{len(result.repaired)} geometries repaired"
        + (f", {len(result.large_leaves)} oversized unit cells" if result.large_leaves else ""),
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
    geojson: Annotated[
        Path | None,
        typer.Option(help="write every defect (and oversized unit cell) with its geometry"),
    ] = None,
) -> None:
    """List partition defects — gaps between sibling cells, overlaps, cells outside their
    parent — each with a location (lon, lat of a point inside it), and warn of unit cells far
    larger than the others (未划网格?). Exits 4 when there are partition defects."""
    from app.domain.grid.defects import as_feature_collection, large_leaves, partition_defects

    with transaction() as session:
        defects = partition_defects(session, within, min_area_m2)
        large = large_leaves(session, within)
    if geojson is not None:
        try:
            geojson.write_text(
                json.dumps(as_feature_collection(defects, large), ensure_ascii=False),
                encoding="utf-8",
            )
        except OSError as exc:
            fail(f"--geojson {geojson}: cannot write it: {exc.strerror}")
    for d in defects:
        cells = " × ".join(d.cells) if d.cells else "-"
        lon, lat = d.location
        out.print(
            f"{d.kind:8} parent {d.parent_code}  cells {cells}  {d.area_m2:,.1f} m²  "
            f"at {lon:.6f}, {lat:.6f}",
            highlight=False,
        )
    for leaf in large:
        err.print(f"warning: {leaf.describe()}", highlight=False)
    kinds = {k: sum(d.kind == k for d in defects) for k in ("gap", "overlap", "outside")}
    out.print(
        f"{len(defects)} partition defects ({kinds['gap']} gaps, {kinds['overlap']} "
        f"overlaps, {kinds['outside']} outside the parent)"
        + (f", {len(large)} oversized unit cells" if large else "")
        + (f" under {within}" if within else "")
        + (f"; written to {geojson}" if geojson else "")
    )
    if defects:
        raise typer.Exit(4)


# --- people --------------------------------------------------------------------------------


@app.command("import-roster")
def import_roster(
    path: Path,
    accounts: Annotated[
        Path | None,
        typer.Option(
            help="create a login for each person of the roster without one, and write their "
            "one-time passwords to this .xlsx file (it must not exist yet)"
        ),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="CSV encoding, e.g. GBK (default: UTF-8 or GBK, detected)")
    ] = None,
) -> None:
    """Import duty assignments from an .xlsx workbook or a CSV file, with English headers
    (cell_code,duty,username,name,phone,valid_from,valid_to) or Chinese ones (网格编码, 岗位,
    用户名, 姓名, 手机号, 起始日期, 结束日期); without a username, people are known by phone."""
    from app.domain.people.credentials import write_credentials
    from app.domain.people.roster import import_roster as run

    pending = None
    if accounts is not None:
        if accounts.suffix.lower() != ".xlsx":
            fail(f"--accounts {accounts}: the credentials sheet is an .xlsx file")
        if accounts.exists():
            fail(
                f"--accounts {accounts}: the file exists already; choose a new name (the "
                "one-time passwords it holds would be lost)"
            )
        if not accounts.parent.is_dir():
            fail(f"--accounts {accounts}: the folder {accounts.parent} does not exist")
        pending = accounts.with_name(f".{accounts.name}.incomplete")
        pending.unlink(missing_ok=True)
    try:
        with transaction() as session, progress_bar() as bar:
            r = run(session, path, encoding, bar, accounts=pending is not None)
            if pending is not None:  # written before the commit: no logins without their sheet
                try:
                    write_credentials(pending, r.credentials)
                except OSError as exc:
                    fail(f"--accounts {accounts}: cannot write it: {exc.strerror}")
        if pending is not None and accounts is not None:
            pending.replace(accounts)
    finally:
        if pending is not None:
            pending.unlink(missing_ok=True)
    for note in r.notes:
        err.print(f"note: {path}: {note}", highlight=False)
    out.print(
        f"{path}: {r.duties_added} duties added, {r.duties_updated} updated, "
        f"{r.persons_added} new persons"
        + (f", {r.persons_promoted} became leaders" if r.persons_promoted else "")
        + (f", {len(r.credentials)} logins created → {accounts}" if accounts else ""),
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
