"""Hostile files for every importer (issue 8): each is refused with exit 1 and a message that
names the file, the row or feature and what is wrong, or (where a user would expect it) taken
as it should be. Nothing is half-imported, and no traceback reaches the user."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import shapely
from click.testing import Result
from geoalchemy2.shape import to_shape
from shapely.geometry import Polygon
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.grid.cells import get_cell
from app.domain.grid.crs import from_wgs84, parse_crs, transform
from app.domain.people.roster import COLUMNS as roster_columns
from app.domain.reports.imports import COLUMNS as report_columns
from app.models import Cell, Duty, Person, Report
from tests.cli.helpers import run_cli, write_layer
from tests.factories import CENTRES, UNITS, X0, Y0, make_user, square, two_by_two

FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "@SUM(1)", "-2+3"]


def counts(db: Session) -> tuple[int, ...]:
    db.expire_all()
    return tuple(
        db.scalar(select(func.count()).select_from(model)) or 0
        for model in (Cell, Person, Duty, Report)
    )


def refused(result: Result, path: Path, *expected: str) -> None:
    """Exit 1, the file named, every expected text in the message, and no traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    assert f"{path}: rejected, nothing imported" in result.output
    for text in expected:
        assert text in result.output, result.output


# --- import-grid ---------------------------------------------------------------------------


def write_geojson(path: Path, rows: list[dict[str, object]]) -> Path:
    """GeoJSON written as text, so that any geometry (even none) goes in as given."""
    features = []
    for row in rows:
        properties = json.dumps({k: v for k, v in row.items() if k != "geometry"})
        geometry = shapely.to_geojson(row["geometry"]) if row["geometry"] else "null"
        features.append(
            f'{{"type": "Feature", "properties": {properties}, "geometry": {geometry}}}'
        )
    path.write_text(f'{{"type": "FeatureCollection", "features": [{", ".join(features)}]}}')
    return path


def cells(n: int = 2) -> list[dict[str, object]]:
    return [
        {"code": f"G{i}", "name": f"红旗区第{i}网格", "geometry": square(X0 + 0.01 * i, Y0)}
        for i in range(1, n + 1)
    ]


def test_self_intersecting_polygon_among_good_ones_with_strict(tmp_path: Path, db: Session) -> None:
    # The bow-tie repair without --strict is in test_import_grid.py; here one bad feature
    # among good ones rejects them all, and a polygon that repairs to nothing is refused even
    # without --strict.
    bowtie = Polygon([(X0, Y0), (X0 + 0.01, Y0 + 0.01), (X0 + 0.01, Y0), (X0, Y0 + 0.01)])
    flat = Polygon([(X0, Y0), (X0 + 0.01, Y0), (X0 + 0.02, Y0), (X0, Y0)])
    rows = [*cells(), {"code": "G3", "name": "蝴蝶", "geometry": bowtie}]
    path = write_layer(tmp_path / "bowtie.gpkg", rows, "EPSG:4326")
    before = counts(db)

    refused(
        run_cli("import-grid", path, "--strict"),
        path,
        "feature 3 (code G3): geometry is invalid: Self-intersection",
    )
    assert counts(db) == before

    path = write_layer(
        tmp_path / "flat.geojson", [*cells(), {"code": "G3", "name": "扁", "geometry": flat}], None
    )
    refused(
        run_cli("import-grid", path),
        path,
        "feature 3 (code G3): geometry is invalid",
        "repairing it leaves no area",
    )
    assert counts(db) == before


def test_empty_file_and_a_layer_without_features(tmp_path: Path, db: Session) -> None:
    before = counts(db)
    empty = tmp_path / "empty.geojson"
    empty.write_bytes(b"")
    refused(run_cli("import-grid", empty), empty, "the file is empty")

    none = tmp_path / "none.geojson"
    none.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    refused(run_cli("import-grid", none), none, "the layer has no features")

    nulls = write_geojson(
        tmp_path / "nulls.geojson", [{"code": "N1", "name": "空", "geometry": None}]
    )
    refused(
        run_cli("import-grid", nulls), nulls, "feature 1 (code N1): geometry is empty or missing"
    )
    assert counts(db) == before


def test_3d_polygons_import_as_2d(tmp_path: Path, db: Session) -> None:
    """A PolygonZ (heights from a survey) is the same outline: the Z is dropped, not refused."""
    ring = [
        (X0, Y0, 71.5),
        (X0 + 0.01, Y0, 72.0),
        (X0 + 0.01, Y0 + 0.01, 73.1),
        (X0, Y0 + 0.01, 70),
    ]
    gk = from_wgs84(parse_crs("EPSG:4547"))
    in_gk = shapely.transform(
        Polygon(ring), lambda c: np.column_stack([gk(c[:, :2]), c[:, 2]]), include_z=True
    )
    assert in_gk.has_z
    rows = [{"code": "Z1", "name": "立体", "geometry": Polygon(ring)}]
    path = write_layer(tmp_path / "z.geojson", rows, "EPSG:4326")
    shp = write_layer(
        tmp_path / "z.shp", [{"code": "Z2", "name": "立体", "geometry": in_gk}], "EPSG:4547"
    )

    for p in (path, shp):
        result = run_cli("import-grid", p)
        assert result.exit_code == 0, result.output
        assert "1 cells added" in result.output
    for code in ("Z1", "Z2"):
        stored = to_shape(get_cell(db, code).geom)
        assert not stored.has_z
        assert stored.symmetric_difference(Polygon(ring)).area < 1e-9  # same outline in 2D


def test_2_million_vertices_import_in_bounded_time_and_deep_chains_are_refused(
    tmp_path: Path, db: Session
) -> None:
    """No limit on vertices: a 2-million-vertex polygon (a wobbly circle) imports from a
    GeoPackage (some ten seconds, mostly in PostGIS). GDAL caps the size of one GeoJSON object
    and that is said clearly. A parent chain of 1000 levels (which made writing crawl for
    minutes and then fail in PostgreSQL) is refused before anything is written."""
    n = 2_000_000
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 0.005 * (1 + 0.001 * np.sin(t * 1000))
    huge = Polygon(np.column_stack([X0 + r * np.cos(t), Y0 + r * np.sin(t)]))
    rows = [{"code": "H1", "name": "巨", "geometry": huge}]
    gpkg = write_layer(tmp_path / "huge.gpkg", rows, "EPSG:4326")

    result = run_cli("import-grid", gpkg)
    assert result.exit_code == 0, result.output
    assert shapely.get_num_coordinates(to_shape(get_cell(db, "H1").geom)) == n + 1
    before = counts(db)

    geojson = write_geojson(
        tmp_path / "huge.geojson", [{"code": "H2", "name": "巨", "geometry": huge}]
    )
    refused(run_cli("import-grid", geojson), geojson, "cannot read the file", "too complex/large")

    chain = [
        {"code": f"D{i}", "name": f"层{i}", "parent": f"D{i - 1}" if i else None}
        | {"geometry": square(X0, Y0)}
        for i in range(1000)
    ]
    deep = write_layer(tmp_path / "deep.gpkg", chain, "EPSG:4326")
    refused(
        run_cli("import-grid", deep, "--parent-field", "parent"),
        deep,
        "feature 33 (code D32): parent chain is more than 32 levels deep",
    )
    assert counts(db) == before


def test_wrong_crs_coordinates_off_the_globe(tmp_path: Path, db: Session) -> None:
    """Gauss-Krüger metres in a GeoJSON (which means WGS-84 unless it says otherwise)."""
    gk = transform(square(X0, Y0), from_wgs84(parse_crs("EPSG:4547")))
    rows = [*cells(), {"code": "W3", "name": "错", "geometry": gk}]
    path = write_layer(tmp_path / "metres.geojson", rows, None)
    north = write_geojson(
        tmp_path / "north.geojson",
        [{"code": "W4", "name": "极", "geometry": shapely.box(113, 89, 114, 95)}],
    )
    before = counts(db)

    refused(
        run_cli("import-grid", path),
        path,
        "feature 3 (code W3): geometry lies outside the globe after conversion from EPSG:4326 "
        "(is --src-crs right?)",
    )
    refused(run_cli("import-grid", north), north, "feature 1 (code W4): geometry lies outside")
    assert counts(db) == before


def shapefile(tmp_path: Path, name: str, encoding: str = "GBK") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return write_layer(folder / "grid.shp", cells(20), "EPSG:4326", encoding=encoding)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("shp_halved", "grid.shp is truncated ("),
        ("shp_header_cut", "grid.shp is truncated (50 bytes; an interrupted copy?)"),
        ("dbf_halved", "grid.dbf is truncated ("),
        ("dbf_missing", "the attribute file grid.dbf is missing next to grid.shp"),
        ("shx_missing", "the index file grid.shx is missing next to grid.shp"),
    ],
)
def test_broken_shapefile(tmp_path: Path, db: Session, damage: str, expected: str) -> None:
    shp = shapefile(tmp_path, damage)
    part, how = damage.split("_", 1)
    target = shp.with_suffix(f".{part}")
    if how == "missing":
        target.unlink()
    else:
        data = target.read_bytes()
        target.write_bytes(data[: len(data) // 2] if how == "halved" else data[:50])
    before = counts(db)

    refused(run_cli("import-grid", shp), shp, expected)
    assert counts(db) == before


def test_shapefile_text_in_an_undeclared_encoding_is_detected_never_imported_garbled(
    tmp_path: Path, db: Session
) -> None:
    """A .dbf without its .cpg is read as ISO-8859-1 by GDAL: Chinese names would come out as
    ºìÆìÇø… The importer detects UTF-8 and GBK text instead (issue 19); where no encoding
    fits, it recognises GBK (and UTF-8) text behind the garble and asks for --encoding."""
    gbk = shapefile(tmp_path, "gbk")
    gbk.with_suffix(".cpg").unlink()
    utf8 = shapefile(tmp_path, "utf8", encoding="UTF-8")
    utf8.with_suffix(".cpg").unlink()

    result = run_cli("import-grid", gbk)
    assert result.exit_code == 0, result.output
    assert "grid.dbf has no .cpg file saying its encoding: its text was read as GBK" in (
        result.output
    )
    assert get_cell(db, "G1").name == "红旗区第1网格"
    result = run_cli("import-grid", utf8)
    assert result.exit_code == 0, result.output
    assert "its text was read as UTF-8 (detected)" in result.output
    before = counts(db)

    # One damaged byte and the text is in no encoding: read as ISO-8859-1, and named.
    damaged = shapefile(tmp_path, "damaged")
    damaged.with_suffix(".cpg").unlink()
    dbf = damaged.with_suffix(".dbf")
    data = dbf.read_bytes()
    at = data.rindex("网格".encode("gbk"))
    dbf.write_bytes(data[:at] + b"\xff\xff" + data[at + 2 :])
    refused(
        run_cli("import-grid", damaged),
        damaged,
        "feature 1 (code G1): name 'ºìÆìÇøµÚ1Íø¸ñ' looks like GBK text read as ISO-8859-1; "
        "pass --encoding GBK",
    )
    assert counts(db) == before

    # A .cpg that lies (says UTF-8, holds GBK) fails to decode: named, with the hint.
    lying = shapefile(tmp_path, "lying")
    lying.with_suffix(".cpg").write_text("UTF-8")
    refused(run_cli("import-grid", lying), lying, "can't decode", "try --encoding GBK")
    assert counts(db) == before

    right = run_cli("import-grid", lying, "--encoding", "GBK")
    assert right.exit_code == 0, right.output


def test_files_that_are_not_geodata(tmp_path: Path, db: Session) -> None:
    jpeg = tmp_path / "photo.geojson"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00" + bytes(range(256)) * 40)
    truncated = write_geojson(tmp_path / "cut.geojson", cells())
    truncated.write_text(truncated.read_text()[:-30])
    not_json = tmp_path / "words.geojson"
    not_json.write_text("code,name\nG1,红旗区\n", encoding="utf-8")
    before = counts(db)

    refused(run_cli("import-grid", jpeg), jpeg, "not a GeoJSON, GeoPackage or Shapefile")
    refused(
        run_cli("import-grid", truncated),
        truncated,
        "cannot read the file: Failed to read GeoJSON data",
    )
    refused(run_cli("import-grid", not_json), not_json, "not a GeoJSON, GeoPackage or Shapefile")
    assert counts(db) == before


@pytest.mark.parametrize("name", FORMULAS)
def test_cell_names_that_a_spreadsheet_would_run_are_refused(
    tmp_path: Path, db: Session, name: str
) -> None:
    rows = [
        {"code": "F1", "名称": "第一网格", "geometry": square(X0, Y0)},
        {"code": "F2", "名称": "东区=西区", "geometry": square(X0 + 0.01, Y0)},
        {"code": "F3", "名称": name, "geometry": square(X0, Y0 + 0.01)},
    ]
    path = write_layer(tmp_path / "formula.geojson", rows, "EPSG:4326")
    before = counts(db)

    refused(
        run_cli("import-grid", path, "--name-field", "名称"),
        path,
        f"feature 3 (code F3): 名称 {name!r} starts with {name[0]!r}: a name may not start "
        "with = + - or @",
    )
    assert counts(db) == before


def test_overlong_codes_and_names_and_markup_like_text(tmp_path: Path, db: Session) -> None:
    rows = [
        {"code": "L1", "name": "长" * 201, "geometry": square(X0, Y0)},
        {"code": "9" * 65, "name": "长码", "geometry": square(X0 + 0.01, Y0)},
        {"code": "[/red]", "name": "[bold]x", "parent": "[/x]", "geometry": square(X0, Y0)},
    ]
    path = write_layer(tmp_path / "long.geojson", rows, "EPSG:4326")
    before = counts(db)

    refused(
        run_cli("import-grid", path, "--parent-field", "parent"),
        path,
        "feature 1 (code L1): name is longer than 200 characters",
        "feature 2: code is longer than 64 characters",
        "feature 3 (code [/red]): parent '[/x]' is neither in the file nor in the grid",
    )
    assert counts(db) == before


# --- import-roster and import-reports ------------------------------------------------------

ROSTER = roster_columns
REPORTS = report_columns


def csv_text(header: tuple[str, ...], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def roster_row(**over: str) -> dict[str, str]:
    row = {
        "cell_code": UNITS[0],
        "duty": "member",
        "username": "lifang",
        "name": "李芳",
        "phone": "13900000002",
        "valid_from": "2026-01-01",
        "valid_to": "",
    }
    return row | over


def report_row(**over: str) -> dict[str, str]:
    lon, lat = CENTRES[UNITS[0]]
    row = {
        "id": str(uuid.uuid4()),
        "username": "insp",
        "lat": str(lat),
        "lon": str(lon),
        "accuracy_m": "8",
        "observed_at": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
        "kind": "patrol",
        "category": "",
        "description": "例行巡查",
    }
    return row | over


Make = Callable[..., dict[str, str]]
IMPORTERS = [
    pytest.param("import-roster", ROSTER, roster_row, "name", id="roster"),
    pytest.param("import-reports", REPORTS, report_row, "description", id="reports"),
]


@pytest.fixture
def field(db: Session) -> None:
    two_by_two(db)
    make_user(db, "insp", "inspector")


def good_rows(make: Make) -> list[dict[str, str]]:
    second = {"username": "wangjg", "name": "王建国"} if make is roster_row else {}
    return [make(), make(**second)]


# The roster detects GBK (tests/cli/test_roster_from_excel.py); the reports importer asks.
@pytest.mark.parametrize(("command", "header", "make", "text_column"), IMPORTERS[1:])
def test_gbk_bytes_read_as_utf8_name_the_line(
    tmp_path: Path,
    db: Session,
    field: None,
    command: str,
    header: tuple[str, ...],
    make: Make,
    text_column: str,
) -> None:
    rows = [make(**{text_column: "ok"}), make(**{text_column: "红旗区西街"})]
    path = tmp_path / "gbk.csv"
    path.write_bytes(csv_text(header, rows).encode("gbk"))
    before = counts(db)

    refused(
        run_cli(command, path),
        path,
        "line 3: not utf-8-sig text (invalid start byte at byte",
        "try --encoding GBK",
    )
    assert counts(db) == before


@pytest.mark.parametrize(("command", "header", "make", "text_column"), IMPORTERS)
def test_missing_columns_junk_and_shifted_rows(
    tmp_path: Path,
    db: Session,
    field: None,
    command: str,
    header: tuple[str, ...],
    make: Make,
    text_column: str,
) -> None:
    before = counts(db)
    missing = tmp_path / "missing.csv"
    missing.write_text(csv_text(header[:-2], [{k: make()[k] for k in header[:-2]}]))
    refused(run_cli(command, missing), missing, f"line 1: missing column(s) {header[-2]}")

    title = tmp_path / "title.csv"  # a title line above the header, as spreadsheets export
    title.write_text("2026年第一季度,,\n" + csv_text(header, good_rows(make)), encoding="utf-8")
    refused(run_cli(command, title), title, "line 1: missing column(s)")

    shifted = tmp_path / "shifted.csv"  # an unquoted comma in a text cell
    body = csv_text(header, good_rows(make))
    shifted.write_text(
        body + body.splitlines()[1].replace("李芳", "李,芳").replace("例行", "例,行")
    )
    refused(
        run_cli(command, shifted),
        shifted,
        f"line 4: {len(header) + 1} values but the header has {len(header)} (an unquoted comma?)",
    )

    quote = tmp_path / "quote.csv"  # a quote left open would swallow the rest of the file
    lines = body.splitlines()
    quote.write_text("\n".join([lines[0], lines[1].replace(",", ',"', 1), *lines[1:]]))
    refused(run_cli(command, quote), quote, "line 2: malformed CSV: unexpected end of data")
    stray = tmp_path / "stray.csv"  # text after a closing quote
    stray.write_text(body + body.splitlines()[1].replace(",", ',"x"y', 1), encoding="utf-8")
    refused(run_cli(command, stray), stray, "line 4: malformed CSV: ',' expected after '\"'")
    assert counts(db) == before

    # Extra columns are the user's own notes: ignored, the rest imports.
    notes = tmp_path / "notes.csv"
    notes.write_text(
        csv_text((*header, "备注"), [r | {"备注": "=HYPERLINK(1)"} for r in good_rows(make)])
    )
    result = run_cli(command, notes)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("command", "header", "make", "text_column"), IMPORTERS)
def test_byte_order_mark_is_accepted_whatever_the_encoding_option(
    tmp_path: Path,
    db: Session,
    field: None,
    command: str,
    header: tuple[str, ...],
    make: Make,
    text_column: str,
) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_text(header, [make()]).encode())
    first = run_cli(command, path)
    assert first.exit_code == 0, first.output
    again = tmp_path / "bom2.csv"
    again.write_bytes(b"\xef\xbb\xbf" + csv_text(header, [make()]).encode())
    second = run_cli(command, again, "--encoding", "UTF-8")
    assert second.exit_code == 0, second.output

    utf16 = tmp_path / "utf16.csv"
    utf16.write_text(csv_text(header, [make()]), encoding="utf-16")
    before = counts(db)
    refused(run_cli(command, utf16), utf16, "the file is UTF-16 text")
    assert counts(db) == before


@pytest.mark.parametrize(("command", "header", "make", "text_column"), IMPORTERS)
def test_nul_bytes_empty_and_header_only_files(
    tmp_path: Path,
    db: Session,
    field: None,
    command: str,
    header: tuple[str, ...],
    make: Make,
    text_column: str,
) -> None:
    before = counts(db)
    nul = tmp_path / "nul.csv"
    nul.write_text(csv_text(header, [make(), make(**{text_column: "王\x00建国"})]))
    refused(run_cli(command, nul), nul, "line 3: contains a NUL character")

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    refused(run_cli(command, empty), empty, "the file is empty; expected the header")
    blank = tmp_path / "blank.csv"
    blank.write_bytes(b"\xef\xbb\xbf\r\n \n")
    refused(run_cli(command, blank), blank, "the file is empty")

    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(header) + "\n")
    refused(run_cli(command, header_only), header_only, "no rows after the header")
    assert counts(db) == before


@pytest.mark.parametrize(("command", "header", "make", "text_column"), IMPORTERS)
def test_very_long_fields(
    tmp_path: Path,
    db: Session,
    field: None,
    command: str,
    header: tuple[str, ...],
    make: Make,
    text_column: str,
) -> None:
    before = counts(db)
    long = tmp_path / "long.csv"
    long.write_text(csv_text(header, [make(), make(**{text_column: "长" * 4001})]))
    refused(run_cli(command, long), long, f"line 3: {text_column} is longer than 4000 characters")

    huge = tmp_path / "huge.csv"  # beyond what Python's csv module takes in one field
    huge.write_text(csv_text(header, [make(), make(**{text_column: "x" * 200_000})]))
    refused(run_cli(command, huge), huge, "line 3: malformed CSV: field larger than field limit")

    wide = tmp_path / "wide.csv"  # a hostile value is quoted in the message, but cut short
    wide.write_text(csv_text(header, [make(username="u" * 3000)]))
    result = run_cli(command, wide)
    refused(result, wide, "u" * 60 + "…")
    assert "u" * 61 not in result.output
    assert counts(db) == before


@pytest.mark.parametrize("name", FORMULAS)
def test_person_names_that_a_spreadsheet_would_run_are_refused(
    tmp_path: Path, db: Session, field: None, name: str
) -> None:
    path = tmp_path / "formula.csv"
    path.write_text(csv_text(ROSTER, [roster_row(), roster_row(username="evil", name=name)]))
    before = counts(db)

    refused(
        run_cli("import-roster", path),
        path,
        f"line 3: name {name!r} starts with {name[0]!r}: a name may not start with = + - or @",
    )
    assert counts(db) == before


def test_person_names_longer_than_200_characters_are_refused(
    tmp_path: Path, db: Session, field: None
) -> None:
    path = tmp_path / "long.csv"
    path.write_text(csv_text(ROSTER, [roster_row(name="长" * 201)]))
    before = counts(db)
    refused(run_cli("import-roster", path), path, "line 2: name is longer than 200 characters")
    assert counts(db) == before


def test_leading_signs_outside_names_still_work(tmp_path: Path, db: Session, field: None) -> None:
    """The rule is for names only: a phone number with + or -, a name with = inside, and a
    report description that looks like a formula (exports neutralise it) are all taken."""
    roster = tmp_path / "roster.csv"
    roster.write_text(
        csv_text(
            ROSTER,
            [
                roster_row(phone="+86 139 0000 0002"),
                roster_row(username="wangjg", name="王=建国", phone="-0373-1234567"),
            ],
        )
    )
    result = run_cli("import-roster", roster)
    assert result.exit_code == 0, result.output
    phones = {u: p for u, p in db.execute(select(Person.username, Person.phone))}
    assert phones["lifang"] == "+86 139 0000 0002" and phones["wangjg"] == "-0373-1234567"

    reports = tmp_path / "reports.csv"
    reports.write_text(csv_text(REPORTS, [report_row(description=f) for f in FORMULAS]))
    result = run_cli("import-reports", reports)
    assert result.exit_code == 0, result.output
    assert set(db.scalars(select(Report.description))) == set(FORMULAS)


def test_unreadable_paths_and_options(tmp_path: Path, db: Session, field: None) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(csv_text(ROSTER, [roster_row(duty="[/x]")]))
    before = counts(db)

    refused(run_cli("import-roster", path), path, "line 2: duty '[/x]' is not one of")
    refused(run_cli("import-roster", path, "--encoding", "klingon"), path, "unknown encoding")
    refused(run_cli("import-reports", tmp_path), tmp_path, "cannot read the file")
    assert counts(db) == before
