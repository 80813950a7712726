import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon
from sqlalchemy.orm import Session

from app.domain.grid.cells import NewCell
from app.domain.grid.defects import partition_defects
from tests.factories import X0, Y0, make_cells, square

GEOD = Geod(ellps="WGS84")


def geodesic_area(geom: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def test_hole_and_overlap_are_reported_with_areas_within_1_percent(db: Session) -> None:
    # Parent: 0.02° square. Children: left half; right half shifted 0.002° west so it
    # overlaps the left one, and cut short at the top, leaving a strip uncovered.
    left = shapely.box(X0, Y0, X0 + 0.01, Y0 + 0.02)
    right = shapely.box(X0 + 0.008, Y0, X0 + 0.02, Y0 + 0.017)
    make_cells(
        db,
        NewCell("P", "父", 1, None, square(X0, Y0, 0.02)),
        NewCell("P-1", "左", 2, "P", MultiPolygon([left])),
        NewCell("P-2", "右", 2, "P", MultiPolygon([right])),
    )
    true_gap = shapely.box(X0 + 0.01, Y0 + 0.017, X0 + 0.02, Y0 + 0.02)
    true_overlap = left.intersection(right)

    defects = partition_defects(db, "P")

    kinds = {d.kind: d for d in defects}
    assert sorted(kinds) == ["gap", "overlap"] and len(defects) == 2
    assert abs(kinds["gap"].area_m2 / geodesic_area(true_gap) - 1) < 0.01
    assert abs(kinds["overlap"].area_m2 / geodesic_area(true_overlap) - 1) < 0.01
    assert kinds["overlap"].cells == ["P-1", "P-2"]
    assert kinds["gap"].geometry["type"] == "Polygon"


def test_child_outside_its_parent_is_reported(db: Session) -> None:
    make_cells(
        db,
        NewCell("Q", "父", 1, None, square(X0, Y0, 0.01)),
        NewCell("Q-1", "出界", 2, "Q", square(X0, Y0 + 0.005, 0.01)),
    )
    kinds = sorted(d.kind for d in partition_defects(db, "Q"))
    assert kinds == ["gap", "outside"]


def test_a_clean_partition_has_no_defects(db: Session) -> None:
    make_cells(
        db,
        NewCell("R", "父", 1, None, square(X0, Y0, 0.02)),
        NewCell("R-1", "左", 2, "R", MultiPolygon([shapely.box(X0, Y0, X0 + 0.01, Y0 + 0.02)])),
        NewCell(
            "R-2", "右", 2, "R", MultiPolygon([shapely.box(X0 + 0.01, Y0, X0 + 0.02, Y0 + 0.02)])
        ),
    )
    assert partition_defects(db, "R") == []
