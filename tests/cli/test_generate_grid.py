import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.domain.grid.cells import NewCell, get_cell
from app.domain.grid.defects import partition_defects
from app.models import Cell
from tests.cli.helpers import run_cli
from tests.factories import X0, Y0, make_cells

# An L-shaped community, about 1.8 km × 2.2 km.
L_SHAPE = MultiPolygon(
    [
        shapely.Polygon(
            [
                (X0, Y0),
                (X0 + 0.02, Y0),
                (X0 + 0.02, Y0 + 0.01),
                (X0 + 0.01, Y0 + 0.01),
                (X0 + 0.01, Y0 + 0.02),
                (X0, Y0 + 0.02),
            ]
        )
    ]
)


def children(db: Session, code: str) -> list[Cell]:
    parent = get_cell(db, code)
    return list(db.scalars(select(Cell).where(Cell.parent_id == parent.id).order_by(Cell.code)))


def test_square_grid_tiles_the_parent_with_15_digit_codes_in_reading_order(db: Session) -> None:
    make_cells(db, NewCell("410702001002", "某社区", 4, None, L_SHAPE))

    result = run_cli("generate-grid", "--within", "410702001002", "--size-m", "500")

    assert result.exit_code == 0, result.output
    cells = children(db, "410702001002")
    assert len(cells) >= 12
    assert all(c.code.startswith("410702001002") and len(c.code) == 15 for c in cells)
    assert [c.code[-3:] for c in cells] == [f"{n:03d}" for n in range(1, len(cells) + 1)]
    assert all(c.level == 5 and c.is_leaf for c in cells)
    # Reading order: north to south, then west to east.
    centres = [to_shape(c.geom).centroid for c in cells]
    first_row = [p for p in centres if abs(p.y - centres[0].y) < 1e-4]
    assert [p.x for p in first_row] == sorted(p.x for p in first_row)
    assert centres[0].y > centres[-1].y
    assert partition_defects(db, "410702001002") == []
    assert not get_cell(db, "410702001002").is_leaf
    entry = db.execute(text("SELECT actor, action, after FROM audit_log")).one()
    assert entry.action == "grid.generate" and entry.actor.startswith("cli:")
    assert entry.after["inserted"] == len(cells) and entry.after["size_m"] == 500


def test_hex_grid_also_tiles_the_parent(db: Session) -> None:
    make_cells(db, NewCell("410702001003", "另一社区", 4, None, L_SHAPE))

    result = run_cli(
        "generate-grid", "--within", "410702001003", "--size-m", "400", "--shape", "hex"
    )

    assert result.exit_code == 0, result.output
    cells = children(db, "410702001003")
    assert len(cells) > 15
    assert partition_defects(db, "410702001003") == []


def test_district_parent_codes_are_zero_padded(db: Session) -> None:
    make_cells(db, NewCell("410702", "红旗区", 2, None, L_SHAPE))
    assert run_cli("generate-grid", "--within", "410702", "--size-m", "1000").exit_code == 0
    assert children(db, "410702")[0].code == "410702000000001"


def test_refuses_a_parent_that_has_children_or_a_non_standard_code(db: Session) -> None:
    make_cells(
        db,
        NewCell("410702001004", "社区", 4, None, L_SHAPE),
        NewCell("XQ-1", "自编码", 1, None, L_SHAPE),
    )
    assert run_cli("generate-grid", "--within", "410702001004", "--size-m", "800").exit_code == 0

    again = run_cli("generate-grid", "--within", "410702001004", "--size-m", "800")
    assert again.exit_code == 1 and "already has child cells" in again.output

    odd = run_cli("generate-grid", "--within", "XQ-1", "--size-m", "800")
    assert odd.exit_code == 1 and "must be 6 (county), 9 (street) or 12" in odd.output


def test_too_many_cells_for_three_digits_is_refused(db: Session) -> None:
    make_cells(db, NewCell("410702001005", "大社区", 4, None, L_SHAPE))
    result = run_cli("generate-grid", "--within", "410702001005", "--size-m", "50")
    assert result.exit_code == 1
    assert "would not fit the three-digit unit sequence" in result.output
    assert children(db, "410702001005") == []


def test_unknown_parent_is_named(db: Session) -> None:
    result = run_cli("generate-grid", "--within", "999999", "--size-m", "500")
    assert result.exit_code == 1 and "no cell with code '999999'" in result.output
