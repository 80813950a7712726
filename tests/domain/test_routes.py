"""Walking routes on the ground: every stop once, and no longer than walking them in the order
they fall due, on a fixed example with known coordinates."""

from app.domain.supervision import routes

# Eight stops around Xinxiang (lon, lat), listed in the order they fall due: a zig-zag across
# the city that a walker would not choose.
DUE_ORDER = [
    (113.900, 35.300),
    (113.960, 35.310),
    (113.905, 35.305),
    (113.955, 35.300),
    (113.910, 35.300),
    (113.950, 35.305),
    (113.915, 35.310),
    (113.945, 35.310),
]
START = (113.898, 35.299)


def test_the_route_visits_every_stop_once_and_is_no_longer_than_the_due_order() -> None:
    order = routes.order(DUE_ORDER, START)
    assert sorted(order) == list(range(len(DUE_ORDER)))
    walked = routes.length_m([DUE_ORDER[k] for k in order], START)
    by_due = routes.length_m(DUE_ORDER, START)
    assert walked <= by_due
    assert walked < 0.5 * by_due  # the zig-zag is undone
    # west side first from a start in the south-west, then the east side
    assert {order[0], order[1], order[2], order[3]} == {0, 2, 4, 6}


def test_distances_are_metres_on_the_ground() -> None:
    # 0.01 degree of longitude at 35.3 N is about 909 m; of latitude about 1109 m
    assert 900 < routes.distance_m((113.90, 35.30), (113.91, 35.30)) < 920
    assert 1100 < routes.distance_m((113.90, 35.30), (113.90, 35.31)) < 1120
    matrix = routes.distances([(113.90, 35.30), (113.91, 35.30)])
    assert matrix[0, 0] == 0 and abs(matrix[0, 1] - matrix[1, 0]) < 1e-6


def test_small_routes() -> None:
    assert routes.order([]) == []
    assert routes.order([(113.9, 35.3)], START) == [0]
    assert routes.order([(113.95, 35.3), (113.90, 35.3)]) == [0, 1]  # from the first listed


# Stops along a north-south street, in the order they fall due from its middle, with the
# westernmost in the middle of the street: a route pinned to start there walks one half twice.
STREET = [
    (113.912, 35.300),
    (113.911, 35.290),
    (113.910, 35.280),
    (113.900, 35.270),  # the westernmost
    (113.910, 35.260),
    (113.911, 35.250),
    (113.912, 35.240),
]


def test_without_a_start_the_route_starts_where_it_is_shortest() -> None:
    order = routes.order(STREET)
    assert sorted(order) == list(range(len(STREET)))
    walked = routes.length_m([STREET[k] for k in order])
    assert walked <= routes.length_m(STREET)
    assert order in ([0, 1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0])  # end to end, not from 3
    # the spot checks' stops too: a zig-zag without a start is undone
    walked = routes.length_m([DUE_ORDER[k] for k in routes.order(DUE_ORDER)])
    assert walked < 0.5 * routes.length_m(DUE_ORDER)
