import hashlib
from pathlib import Path

import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import LineString, Polygon
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.domain.grid.cells import get_cell
from app.domain.grid.crs import from_wgs84, parse_crs, transform
from app.models import Cell
from tests.cli.helpers import distance_m, run_cli, write_layer
from tests.factories import X0, Y0, square

# Two neighbouring cells with a hole in the first, WGS-84 truth.
TRUTH = {
    "410702001001001": Polygon(
        [(X0, Y0), (X0 + 0.01, Y0), (X0 + 0.01, Y0 + 0.01), (X0, Y0 + 0.01)],
        [
            [
                (X0 + 0.004, Y0 + 0.004),
                (X0 + 0.006, Y0 + 0.004),
                (X0 + 0.006, Y0 + 0.006),
                (X0 + 0.004, Y0 + 0.006),
            ]
        ],
    ),
    "410702001001002": shapely.box(X0 + 0.01, Y0, X0 + 0.02, Y0 + 0.01),
}
NAMES = {"410702001001001": "红旗区西街街道第一网格", "410702001001002": "渠东街道第二网格"}


def cell_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Cell)) or 0


def test_gbk_shapefile_in_gauss_kruger_4547_imports_with_names_and_position(
    tmp_path: Path, db: Session
) -> None:
    gk = from_wgs84(parse_crs("EPSG:4547"))
    rows = [
        {"code": code, "name": NAMES[code], "geometry": transform(geom, gk)}
        for code, geom in TRUTH.items()
    ]
    shp = write_layer(tmp_path / "grid.shp", rows, "EPSG:4547", encoding="GBK")
    assert "红旗区".encode("gbk") in (tmp_path / "grid.dbf").read_bytes()

    result = run_cli("import-grid", shp, "--encoding", "GBK")

    assert result.exit_code == 0, result.output
    assert "2 cells added" in result.output
    for code, truth in TRUTH.items():
        cell = get_cell(db, code)
        assert cell.name == NAMES[code]
        assert distance_m(to_shape(cell.geom), truth) < 1.0
    assert len(to_shape(get_cell(db, "410702001001001").geom).geoms[0].interiors) == 1


def test_gcj02_geojson_lands_within_2_m_of_wgs84_truth(tmp_path: Path, db: Session) -> None:
    gcj = from_wgs84("gcj02")
    rows = [
        {"code": code, "name": NAMES[code], "geometry": transform(geom, gcj)}
        for code, geom in TRUTH.items()
    ]
    path = write_layer(tmp_path / "grid.geojson", rows, "EPSG:4326")

    result = run_cli("import-grid", path, "--src-crs", "gcj02")

    assert result.exit_code == 0, result.output
    for code, truth in TRUTH.items():
        stored = to_shape(get_cell(db, code).geom)
        assert distance_m(stored, truth) < 2.0
        assert distance_m(transform(truth, gcj), truth) > 100  # the datum shift was real


def test_broken_feature_rejects_the_whole_file_naming_it(tmp_path: Path, db: Session) -> None:
    rows = [
        {"code": "A1", "name": "好的", "geometry": square(X0, Y0)},
        {"code": "A2", "name": "坏的", "geometry": LineString([(X0, Y0), (X0 + 1, Y0)])},
        {"code": "A3", "name": "也好", "geometry": square(X0 + 0.01, Y0)},
    ]
    path = write_layer(tmp_path / "broken.gpkg", rows, "EPSG:4326", layer="cells")

    result = run_cli("import-grid", path, "--layer", "cells")

    assert result.exit_code == 1
    assert "feature 2 (code A2)" in result.output
    assert "LineString, not a polygon" in result.output
    assert cell_count(db) == 0


def test_self_intersecting_polygon_is_repaired_or_rejected_with_strict(
    tmp_path: Path, db: Session
) -> None:
    bowtie = Polygon([(X0, Y0), (X0 + 0.01, Y0 + 0.01), (X0 + 0.01, Y0), (X0, Y0 + 0.01)])
    path = write_layer(
        tmp_path / "bowtie.geojson",
        [{"code": "B1", "name": "蝴蝶", "geometry": bowtie}],
        "EPSG:4326",
    )

    strict = run_cli("import-grid", path, "--strict")
    assert strict.exit_code == 1
    assert "feature 1 (code B1): geometry is invalid: Self-intersection" in strict.output
    assert cell_count(db) == 0

    repaired = run_cli("import-grid", path)
    assert repaired.exit_code == 0, repaired.output
    assert "1 geometries repaired" in repaired.output
    geom = to_shape(get_cell(db, "B1").geom)
    assert geom.is_valid and len(geom.geoms) == 2


def test_parent_field_builds_the_tree(tmp_path: Path, db: Session) -> None:
    rows = [
        {"code": "410702001", "name": "街道", "parent": None, "geometry": square(X0, Y0, 0.02)},
        {
            "code": "410702001001001",
            "name": "网格一",
            "parent": "410702001",
            "geometry": square(X0, Y0),
        },
        {"code": "410702", "name": "区", "parent": None, "geometry": square(X0, Y0, 0.02)},
    ]
    rows[0]["parent"] = "410702"  # a child listed before its parent still works
    path = write_layer(tmp_path / "tree.geojson", rows, "EPSG:4326")

    result = run_cli("import-grid", path, "--parent-field", "parent")

    assert result.exit_code == 0, result.output
    district, street, unit = (get_cell(db, c) for c in ("410702", "410702001", "410702001001001"))
    assert (district.level, street.level, unit.level) == (1, 2, 3)
    assert unit.path == f"{district.id}.{street.id}.{unit.id}"
    assert [district.is_leaf, street.is_leaf, unit.is_leaf] == [False, False, True]


def test_unknown_parent_and_duplicate_codes_are_named(tmp_path: Path, db: Session) -> None:
    rows = [
        {"code": "C1", "name": "一", "parent": "NOPE", "geometry": square(X0, Y0)},
        {"code": "C1", "name": "二", "parent": None, "geometry": square(X0, Y0)},
    ]
    path = write_layer(tmp_path / "bad.geojson", rows, "EPSG:4326")

    result = run_cli("import-grid", path, "--parent-field", "parent")

    assert result.exit_code == 1
    assert "feature 1 (code C1): parent 'NOPE' is neither in the file nor in the grid" in (
        result.output
    )
    assert "feature 2 (code C1): code already used by feature 1" in result.output
    assert cell_count(db) == 0


def test_wrong_crs_puts_geometry_off_the_globe_and_is_rejected(tmp_path: Path, db: Session) -> None:
    gk = transform(square(X0, Y0), from_wgs84(parse_crs("EPSG:4547")))
    path = write_layer(
        tmp_path / "gk.geojson", [{"code": "D1", "name": "错", "geometry": gk}], None
    )

    result = run_cli("import-grid", path, "--src-crs", "EPSG:4326")

    assert result.exit_code == 1
    assert "feature 1 (code D1): geometry lies outside the globe" in result.output
    assert cell_count(db) == 0


def test_missing_file_and_missing_field_are_clear(tmp_path: Path) -> None:
    missing = run_cli("import-grid", tmp_path / "nope.geojson")
    assert missing.exit_code == 1 and "file not found" in missing.output

    path = write_layer(
        tmp_path / "f.geojson",
        [{"bianma": "E1", "name": "x", "geometry": square(X0, Y0)}],
        "EPSG:4326",
    )
    no_field = run_cli("import-grid", path)
    assert no_field.exit_code == 1
    assert "field 'code' not in the layer; fields are: bianma, name" in no_field.output


def test_reimport_updates_in_place(tmp_path: Path, db: Session) -> None:
    path = write_layer(
        tmp_path / "a.geojson",
        [{"code": "F1", "name": "旧名", "geometry": square(X0, Y0)}],
        "EPSG:4326",
    )
    assert run_cli("import-grid", path).exit_code == 0
    write_layer(path, [{"code": "F1", "name": "新名", "geometry": square(X0, Y0)}], "EPSG:4326")

    result = run_cli("import-grid", path)

    assert result.exit_code == 0, result.output
    assert "0 cells added, 1 updated" in result.output
    assert get_cell(db, "F1").name == "新名"
    assert cell_count(db) == 1
    entries = db.execute(text("SELECT action, before, after FROM audit_log ORDER BY seq")).all()
    assert [e.action for e in entries] == ["grid.import", "cell.update", "grid.import"]
    assert entries[1].before["name"] == "旧名" and entries[1].after["name"] == "新名"
    assert entries[2].after["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
