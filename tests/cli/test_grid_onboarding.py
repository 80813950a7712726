"""Issue 19: a bureau's grid Shapefile — CGCS2000 / 3-degree Gauss-Krüger CM 114E (EPSG:4547),
Chinese field names (网格编码, 网格名称, 上级编码, 风险等级 = 高/中/低), a GBK .dbf without its .cpg
— imports with no flag beyond the file, alone or zipped; `check-grid` locates every defect and
writes them as GeoJSON; unit cells far larger than the others (a district imported before its
grid) are warned about on import and by check-grid."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import shape
from sqlalchemy.orm import Session

from app.domain.grid.cells import get_cell
from app.domain.grid.crs import from_wgs84, parse_crs, transform
from tests.cli.helpers import distance_m, run_cli, write_layer
from tests.cli.test_hostile_files import counts, refused
from tests.factories import X0, Y0

GK = from_wgs84(parse_crs("EPSG:4547"))
# A street split into four unit cells (2 × 2, about 450 × 550 m each), WGS-84 truth.
STREET = shapely.box(X0, Y0, X0 + 0.01, Y0 + 0.01)
UNIT_CELLS = {
    "410702001001001": (shapely.box(X0, Y0 + 0.005, X0 + 0.005, Y0 + 0.01), "高"),
    "410702001001002": (shapely.box(X0 + 0.005, Y0 + 0.005, X0 + 0.01, Y0 + 0.01), "中风险"),
    "410702001001003": (shapely.box(X0, Y0, X0 + 0.005, Y0 + 0.005), "三级"),
    "410702001001004": (shapely.box(X0 + 0.005, Y0, X0 + 0.01, Y0 + 0.005), ""),
}
RISKS = {
    "410702001001001": "high",
    "410702001001002": "medium",
    "410702001001003": "low",
    "410702001001004": "medium",  # blank: the default
}


def bureau_shapefile(folder: Path, risk_of_first: str = "高") -> Path:
    folder.mkdir(exist_ok=True)
    rows = [
        {
            "网格编码": "410702001",
            "网格名称": "西街街道",
            "上级编码": None,
            "风险等级": None,
            "geometry": transform(STREET, GK),
        }
    ]
    for i, (code, (geom, risk)) in enumerate(UNIT_CELLS.items(), start=1):
        rows.append(
            {
                "网格编码": code,
                "网格名称": f"西街街道第{i}网格",
                "上级编码": "410702001",
                "风险等级": risk_of_first if i == 1 else risk,
                "geometry": transform(geom, GK),
            }
        )
    shp = write_layer(folder / "网格.shp", rows, "EPSG:4547", encoding="GBK")
    shp.with_suffix(".cpg").unlink()
    assert "网格编码".encode("gbk") in shp.with_suffix(".dbf").read_bytes()
    return shp


def zipped(shp: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as z:
        for part in shp.parent.iterdir():
            if part.stem == shp.stem:
                z.write(part, f"bureau/{part.name}")
    return target


@pytest.mark.parametrize("packed", [False, True], ids=["shapefile", "zipped"])
def test_bureau_shapefile_imports_without_flags_within_1_m(
    tmp_path: Path, db: Session, packed: bool
) -> None:
    shp = bureau_shapefile(tmp_path / "grid")
    path = zipped(shp, tmp_path / "grid.zip") if packed else shp

    result = run_cli("import-grid", path)

    assert result.exit_code == 0, result.output
    assert "5 cells added, 0 updated" in result.output
    assert "its text was read as GBK (detected)" in result.output
    assert "fields: code ← 网格编码, name ← 网格名称, parent ← 上级编码, risk ← 风险等级" in (
        result.output
    )
    assert "warning" not in result.output
    street = get_cell(db, "410702001")
    assert street.name == "西街街道" and not street.is_leaf
    assert distance_m(to_shape(street.geom), STREET) < 1.0
    for i, (code, (truth, _)) in enumerate(UNIT_CELLS.items(), start=1):
        cell = get_cell(db, code)
        assert cell.name == f"西街街道第{i}网格"
        assert cell.parent_id == street.id and cell.is_leaf
        assert cell.risk == RISKS[code]
        assert distance_m(to_shape(cell.geom), truth) < 1.0


@pytest.mark.parametrize(
    ("word", "risk"),
    [("高风险", "high"), ("低风险", "low"), ("一级", "high"), ("二级", "medium"), ("低", "low")],
)
def test_chinese_risk_words(tmp_path: Path, db: Session, word: str, risk: str) -> None:
    result = run_cli("import-grid", bureau_shapefile(tmp_path / "g", risk_of_first=word))
    assert result.exit_code == 0, result.output
    assert get_cell(db, "410702001001001").risk == risk


def test_a_blank_risk_on_re_import_keeps_the_stored_risk_and_interval(
    tmp_path: Path, db: Session
) -> None:
    assert (
        run_cli("import-grid", bureau_shapefile(tmp_path / "a", risk_of_first="高")).exit_code == 0
    )
    before = get_cell(db, "410702001001001")
    assert before.risk == "high"
    interval = before.patrol_interval_hours
    db.expire_all()

    again = run_cli("import-grid", bureau_shapefile(tmp_path / "b", risk_of_first=""))
    assert again.exit_code == 0, again.output
    after = get_cell(db, "410702001001001")
    assert (after.risk, after.patrol_interval_hours) == ("high", interval)
    assert "keep their stored risk" in again.output


def test_an_unknown_risk_word_is_refused_saying_which_are_accepted(
    tmp_path: Path, db: Session
) -> None:
    shp = bureau_shapefile(tmp_path / "g", risk_of_first="极高")
    before = counts(db)
    refused(
        run_cli("import-grid", shp),
        shp,
        "feature 2 (code 410702001001001): 风险等级 '极高' is not high/medium/low (or 高/中/低, "
        "高风险/中风险/低风险, 一级/二级/三级 with 一级 the highest); leave it blank for the "
        "default",
    )
    assert counts(db) == before


def test_a_district_without_its_grid_is_warned_about_on_import_and_by_check_grid(
    tmp_path: Path, db: Session
) -> None:
    """Districts imported before their unit cells become leaves of some 100 km²: patrolled as
    one cell, painted as one blind spot. Both commands say so, and where."""
    districts = [
        {"code": "410702", "name": "红旗区", "geometry": shapely.box(X0, Y0, X0 + 0.1, Y0 + 0.1)},
        {
            "code": "410703",
            "name": "卫滨区",
            "geometry": shapely.box(X0 + 0.1, Y0, X0 + 0.2, Y0 + 0.1),
        },
    ]
    path = write_layer(tmp_path / "districts.geojson", districts, "EPSG:4326")

    result = run_cli("import-grid", path)

    assert result.exit_code == 0, result.output
    assert "2 cells added, 0 updated, 0 geometries repaired, 2 oversized unit cells" in (
        result.output
    )
    assert "warning: cell 410702 红旗区 is a unit cell (leaf) of 100.8 km²" in result.output
    assert "未划网格?" in result.output
    assert "gridwatch generate-grid --within 410702 --size-m 500" in result.output

    check = run_cli("check-grid", "--geojson", tmp_path / "defects.geojson")
    assert check.exit_code == 0, check.output
    assert "0 partition defects (0 gaps, 0 overlaps, 0 outside the parent), 2 oversized" in (
        check.output
    )
    assert "warning: cell 410703 卫滨区" in check.output
    written = json.loads((tmp_path / "defects.geojson").read_text(encoding="utf-8"))
    assert [f["properties"]["kind"] for f in written["features"]] == ["large_leaf"] * 2

    # Its unit cells drawn, the district is a leaf no more: nothing to warn about.
    units = [
        {
            "code": f"410702{i:09d}",
            "name": f"第{i}网格",
            "parent": "410702",
            "geometry": shapely.box(X0 + 0.01 * i, Y0, X0 + 0.01 * (i + 1), Y0 + 0.01),
        }
        for i in range(3)
    ]
    more = run_cli("import-grid", write_layer(tmp_path / "units.geojson", units, "EPSG:4326"))
    assert more.exit_code == 0, more.output
    assert "warning" not in more.output
    again = run_cli("check-grid", "--within", "410702")
    assert "warning" not in again.output


def test_check_grid_locates_every_defect_and_writes_them_as_geojson(
    tmp_path: Path, db: Session
) -> None:
    rows = [
        {
            "code": "P",
            "name": "街道",
            "parent": None,
            "geometry": shapely.box(X0, Y0, X0 + 0.02, Y0 + 0.01),
        },
        {
            "code": "A",
            "name": "甲",
            "parent": "P",
            "geometry": shapely.box(X0, Y0, X0 + 0.011, Y0 + 0.01),
        },
        {
            "code": "B",
            "name": "乙",
            "parent": "P",
            "geometry": shapely.box(X0 + 0.01, Y0, X0 + 0.018, Y0 + 0.01),
        },
    ]
    assert (
        run_cli("import-grid", write_layer(tmp_path / "g.geojson", rows, "EPSG:4326")).exit_code
        == 0
    )
    out = tmp_path / "defects.geojson"

    result = run_cli("check-grid", "--geojson", out)

    assert result.exit_code == 4, result.output
    assert "2 partition defects (1 gaps, 1 overlaps, 0 outside the parent)" in result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if " parent P " in line}
    written = json.loads(out.read_text(encoding="utf-8"))
    features = {f["properties"]["kind"]: f for f in written["features"]}
    assert set(features) == {"gap", "overlap"}
    expected = {
        "gap": shapely.box(X0 + 0.018, Y0, X0 + 0.02, Y0 + 0.01),
        "overlap": shapely.box(X0 + 0.01, Y0, X0 + 0.011, Y0 + 0.01),
    }
    for kind, truth in expected.items():
        feature = features[kind]
        assert distance_m(shape(feature["geometry"]), truth) < 1.0
        lon, lat = feature["properties"]["location"]
        assert truth.contains(shapely.Point(lon, lat))
        assert f"at {lon:.6f}, {lat:.6f}" in lines[kind]
    assert features["overlap"]["properties"]["cells"] == ["A", "B"]


def test_archives_that_hold_no_single_grid_are_refused(tmp_path: Path, db: Session) -> None:
    shp = bureau_shapefile(tmp_path / "g")
    two = zipped(shp, tmp_path / "two.zip")
    with zipfile.ZipFile(two, "a") as z:
        z.writestr("other.geojson", "{}")
    escape = tmp_path / "escape.zip"
    with zipfile.ZipFile(escape, "w") as z:
        z.writestr("../../evil.geojson", "{}")
    notes = tmp_path / "notes.zip"
    with zipfile.ZipFile(notes, "w") as z:
        z.writestr("readme.txt", "网格")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    before = counts(db)

    refused(
        run_cli("import-grid", two),
        two,
        "the archive must hold exactly one grid file",
        "it holds: other.geojson, 网格.shp",
    )
    refused(run_cli("import-grid", escape), escape, "the archive names a path outside it")
    refused(run_cli("import-grid", notes), notes, "it holds: none")
    refused(run_cli("import-grid", broken), broken, "not a readable .zip archive")
    assert counts(db) == before
    assert not (tmp_path.parent / "evil.geojson").exists()
