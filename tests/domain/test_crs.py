import numpy as np
import pytest
from pyproj import Geod

from app.domain.grid.crs import CrsError, from_wgs84, parse_crs, point_to_wgs84, to_wgs84

GEOD = Geod(ellps="WGS84")
TRUTH = np.array([[113.9261, 35.3031], [113.80, 35.25], [114.05, 35.42]])


def error_m(a: np.ndarray, b: np.ndarray) -> float:
    _, _, dist = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    return float(np.max(dist))


@pytest.mark.parametrize("datum", ["gcj02", "bd09"])
def test_chinese_web_datum_inverse_is_within_2_m(datum: str) -> None:
    shifted = from_wgs84(parse_crs(datum))(TRUTH)
    assert error_m(shifted, TRUTH) > 100  # the obfuscation really moved the points
    assert error_m(to_wgs84(parse_crs(datum))(shifted), TRUTH) < 2.0


def test_gauss_kruger_4547_round_trip_is_sub_millimetre() -> None:
    crs = parse_crs("EPSG:4547")
    xy = from_wgs84(crs)(TRUTH)
    assert 300_000 < xy[0, 0] < 700_000  # a false easting of 500 km, no zone prefix
    assert error_m(to_wgs84(crs)(xy), TRUTH) < 0.001


def test_datum_names_are_forgiving() -> None:
    assert parse_crs("GCJ-02") == "gcj02"
    assert parse_crs("BD_09") == "bd09"


def test_unknown_crs_is_a_clear_error() -> None:
    with pytest.raises(CrsError, match="unknown CRS 'EPSG:999999'"):
        parse_crs("EPSG:999999")


def test_point_conversion_from_gcj02() -> None:
    gcj = from_wgs84("gcj02")(TRUTH[:1])
    lon, lat = point_to_wgs84(float(gcj[0, 0]), float(gcj[0, 1]), "gcj02")
    assert error_m(np.array([[lon, lat]]), TRUTH[:1]) < 2.0
