from datetime import UTC, datetime

import shapely
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy.orm import Session

from app.domain.grid.cells import NewCell, get_cell, leaf_cell_at
from tests.factories import X0, Y0, make_cells, two_by_two

NOW = datetime.now(UTC)


def test_point_on_a_shared_edge_resolves_to_exactly_the_smallest_code(db: Session) -> None:
    two_by_two(db)
    # The vertical edge between 西北 (…001) and 东北 (…002), and the corner of all four.
    assert leaf_cell_at(db, X0 + 0.01, Y0 + 0.015, NOW) == (
        get_cell(db, "410702001001001").id,
        "410702001001001",
    )
    assert leaf_cell_at(db, X0 + 0.01, Y0 + 0.01, NOW)[1] == "410702001001001"  # type: ignore[index]
    # The horizontal edge between 东北 (…002) and 东南 (…004).
    assert leaf_cell_at(db, X0 + 0.015, Y0 + 0.01, NOW)[1] == "410702001001002"  # type: ignore[index]


def test_point_inside_a_cell_and_outside_all_cells(db: Session) -> None:
    two_by_two(db)
    assert leaf_cell_at(db, X0 + 0.015, Y0 + 0.005, NOW)[1] == "410702001001004"  # type: ignore[index]
    assert leaf_cell_at(db, X0 - 0.001, Y0 + 0.005, NOW) is None


def test_point_in_a_hole_is_not_in_that_cell(db: Session) -> None:
    shell = [(X0, Y0), (X0 + 0.01, Y0), (X0 + 0.01, Y0 + 0.01), (X0, Y0 + 0.01)]
    hole = [
        (X0 + 0.004, Y0 + 0.004),
        (X0 + 0.006, Y0 + 0.004),
        (X0 + 0.006, Y0 + 0.006),
        (X0 + 0.004, Y0 + 0.006),
    ]
    make_cells(db, NewCell("H1", "有洞", 1, None, MultiPolygon([Polygon(shell, [hole])])))
    assert leaf_cell_at(db, X0 + 0.005, Y0 + 0.005, NOW) is None
    assert leaf_cell_at(db, X0 + 0.002, Y0 + 0.002, NOW) is not None


def test_only_leaf_cells_are_resolved(db: Session) -> None:
    two_by_two(db)
    code = leaf_cell_at(db, X0 + 0.005, Y0 + 0.005, NOW)[1]  # type: ignore[index]
    assert get_cell(db, code).is_leaf


def test_retired_cell_no_longer_receives_points(db: Session) -> None:
    two_by_two(db)
    cell = get_cell(db, "410702001001003")
    cell.valid_to = datetime(2026, 1, 1, tzinfo=UTC)
    db.commit()
    assert leaf_cell_at(db, X0 + 0.005, Y0 + 0.005, NOW) is None
    assert leaf_cell_at(db, X0 + 0.005, Y0 + 0.005, datetime(2025, 6, 1, tzinfo=UTC)) == (
        cell.id,
        cell.code,
    )


def test_tree_triggers_keep_path_leaf_flag_and_area(db: Session) -> None:
    cells = two_by_two(db)
    district, street, unit = cells[0], cells[1], cells[2]
    assert unit.path == f"{district.id}.{street.id}.{unit.id}"
    assert not street.is_leaf and unit.is_leaf
    # 0.01° × 0.01° at 35.3°N ≈ 908 m × 1109 m.
    assert 0.99e6 < unit.area_m2 < 1.02e6

    # Moving a street under a new district re-roots its subtree and updates both parents.
    make_cells(
        db,
        NewCell(
            "410703", "卫滨区", 2, None, MultiPolygon([shapely.box(X0, Y0, X0 + 0.02, Y0 + 0.02)])
        ),
    )
    new_parent = get_cell(db, "410703")
    street.parent_id = new_parent.id
    db.commit()
    db.expire_all()
    assert get_cell(db, "410702001001001").path == f"{new_parent.id}.{street.id}.{unit.id}"
    assert get_cell(db, "410702").is_leaf
    assert not get_cell(db, "410703").is_leaf
