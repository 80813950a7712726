"""Malformed geometries and blank attributes in grid files (issue 14, items 4 and 5): each
broken feature is named with its code and what is wrong, nothing is imported, and no
traceback or Python warning reaches the terminal; a blank risk is "not given"."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.domain.grid.cells import get_cell
from app.models import AuditEntry, Cell
from tests.cli.helpers import run_cli
from tests.cli.rawgeo import BROKEN, SHAPES, write_geojson, write_shapefile
from tests.factories import X0, Y0


def stored(db: Session) -> tuple[int, int]:
    """(cells, audit entries): an import that is refused changes neither."""
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(Cell)) or 0,
        db.scalar(select(func.count()).select_from(AuditEntry)) or 0,
    )


def features(*shapes: str, **props: Any) -> list[tuple[dict[str, Any], Any]]:
    return [
        ({"code": f"G{i}", "name": f"第{i}网格"} | props, SHAPES[shape](X0 + 0.01 * i, Y0))
        for i, shape in enumerate(shapes, start=1)
    ]


WRITERS = {"geojson": write_geojson, "shp": write_shapefile}


def run_quietly(*args: str) -> Result:
    """The CLI in-process; pytest would swallow a Python warning that a user's terminal shows,
    so none may be raised at all."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = run_cli(*args)
    assert not said, [f"{w.category.__name__}: {w.message}" for w in said]
    return result


def test_open_ring_among_good_features_exits_1_names_it_and_imports_nothing(
    tmp_path: Path, db: Session
) -> None:
    """The crash of issue 14 item 4, run as the user runs it: a real process, its terminal
    output read whole."""
    path = write_geojson(tmp_path / "grid.geojson", features("square", "open_ring", "square"))
    before = stored(db)

    run = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "import-grid", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"COLUMNS": "200"},
    )

    terminal = run.stdout + run.stderr
    assert run.returncode == 1, terminal
    assert f"{path}: rejected, nothing imported (1 problem(s))" in terminal
    assert (
        "feature 2 (code G2): geometry has a ring that is not closed "
        "(its last point is not its first)" in terminal
    )
    assert "Traceback" not in terminal and "Warning" not in terminal, terminal
    assert stored(db) == before


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("shape", sorted(BROKEN))
def test_each_broken_geometry_is_named_and_rejects_the_file(
    tmp_path: Path, db: Session, fmt: str, shape: str
) -> None:
    path = WRITERS[fmt](tmp_path / f"grid.{fmt}", features("square", "holed", shape, "multi"))
    before = stored(db)

    result = run_quietly("import-grid", path)

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output and "Warning" not in result.output, result.output
    assert f"{path}: rejected, nothing imported" in result.output
    named = [
        line for line in result.output.splitlines() if "feature 3 (code G3): geometry " in line
    ]
    assert len(named) == 1 and BROKEN[shape] in named[0], result.output
    assert "feature 1 " not in result.output and "feature 2 " not in result.output
    assert stored(db) == before


def test_coordinates_gdal_cannot_parse_are_named_with_gdals_reason(
    tmp_path: Path, db: Session
) -> None:
    garbage = {"type": "Polygon", "coordinates": [[[X0], [X0, Y0], [X0, Y0 + 0.01], [X0]]]}
    path = write_geojson(
        tmp_path / "g.geojson", [*features("square"), ({"code": "B", "name": "坏"}, garbage)]
    )
    before = stored(db)

    result = run_quietly("import-grid", path)

    assert result.exit_code == 1, result.output
    assert "feature 2 (code B): geometry is empty or missing" in result.output
    assert "GDAL: OGRGeoJSONReadRawPoint(): Invalid coord dimension" in result.output
    assert "Warning" not in result.output, result.output
    assert stored(db) == before


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_self_intersection_is_repaired_and_strict_rejects_it(
    tmp_path: Path, db: Session, fmt: str
) -> None:
    path = WRITERS[fmt](tmp_path / f"grid.{fmt}", features("square", "bowtie"))
    before = stored(db)

    strict = run_quietly("import-grid", path, "--strict")
    assert strict.exit_code == 1, strict.output
    assert "feature 2 (code G2): geometry is invalid: Self-intersection" in strict.output
    assert stored(db) == before

    repaired = run_quietly("import-grid", path)
    assert repaired.exit_code == 0, repaired.output
    assert "2 cells added, 0 updated, 1 geometries repaired" in repaired.output
    assert "repaired feature 2 (code G2): Self-intersection" in repaired.output


# --- blank attributes ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("blank", ["", "   ", None])
def test_parent_without_risk_imports_with_risk_field(
    tmp_path: Path, db: Session, fmt: str, blank: str | None
) -> None:
    """Only leaf cells are patrolled: a parent needs no risk. A blank risk on a leaf means
    "not given" and gets the default (medium), said in a note."""
    rows = [
        ({"code": "COVP", "name": "街道", "parent": None, "risk": blank}, SHAPES["square"](X0, Y0)),
        ({"code": "L1", "name": "一", "parent": "COVP", "risk": "high"}, SHAPES["square"](X0, Y0)),
        ({"code": "L2", "name": "二", "parent": "COVP", "risk": blank}, SHAPES["square"](X0, Y0)),
        ({"code": "L3", "name": "三", "parent": "COVP", "risk": "低"}, SHAPES["square"](X0, Y0)),
    ]
    path = WRITERS[fmt](tmp_path / f"tree.{fmt}", rows)

    result = run_quietly("import-grid", path, "--parent-field", "parent", "--risk-field", "risk")

    assert result.exit_code == 0, result.output
    assert "4 cells added" in result.output
    assert (
        "note: 1 leaf cell(s) without a risk value (new cells get the default risk medium, "
        "cells already in the grid keep their stored risk): feature 3 (code L2)"
        in " ".join(result.output.split())
    )
    risks = {c: get_cell(db, c).risk for c in ("L1", "L2", "L3")}
    assert risks == {"L1": "high", "L2": "medium", "L3": "low"}
    assert get_cell(db, "L2").patrol_interval_hours == 72
    assert not get_cell(db, "COVP").is_leaf


def test_a_risk_that_is_not_blank_must_still_be_a_risk(tmp_path: Path, db: Session) -> None:
    rows = [
        ({"code": "P", "name": "街道", "parent": None, "风险": "很高"}, SHAPES["square"](X0, Y0)),
        ({"code": "L1", "name": "一", "parent": "P", "风险": "\t"}, SHAPES["square"](X0, Y0)),
    ]
    path = write_geojson(tmp_path / "t.geojson", rows)
    before = stored(db)

    result = run_quietly("import-grid", path, "--parent-field", "parent", "--risk-field", "风险")

    assert result.exit_code == 1, result.output
    assert "(1 problem(s))" in result.output
    assert "feature 1 (code P): 风险 '很高' is not high/medium/low" in result.output
    assert stored(db) == before


@pytest.mark.parametrize("blank", ["", " \t", None])
def test_blank_parent_and_level_are_not_given_blank_code_and_name_are_named(
    tmp_path: Path, db: Session, blank: str | None
) -> None:
    good = [
        ({"code": "R", "name": "根", "parent": blank, "level": blank}, SHAPES["square"](X0, Y0))
    ]
    path = write_geojson(tmp_path / "ok.geojson", good)
    result = run_quietly("import-grid", path, "--parent-field", "parent")
    assert result.exit_code == 0, result.output
    root = get_cell(db, "R")
    assert root.parent_id is None and root.level == 1
    before = stored(db)

    bad = [
        ({"code": blank, "name": "无码"}, SHAPES["square"](X0, Y0)),
        ({"code": "N", "name": blank}, SHAPES["square"](X0, Y0)),
    ]
    path = write_geojson(tmp_path / "bad.geojson", bad)
    result = run_quietly("import-grid", path)
    assert result.exit_code == 1, result.output
    assert "feature 1: empty 'code'" in result.output
    assert "feature 2 (code N): empty 'name'" in result.output
    assert stored(db) == before
    assert db.execute(text("SELECT count(*) FROM cells WHERE code = 'N'")).scalar() == 0
