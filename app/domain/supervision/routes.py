"""Short walking routes through a few points on the ground: nearest neighbour, then 2-opt until
no move shortens the route. Distances are geodesic metres on the WGS-84 ellipsoid (pyproj),
computed once per pair. Used by the spot-check plans and the inspectors' plans of the day."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
Point = tuple[float, float]  # (lon, lat), WGS-84


def distance_m(a: Point, b: Point) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def distances(points: Sequence[Point]) -> np.ndarray:
    """The matrix of ground distances in metres between every two points."""
    n = len(points)
    if n == 0:
        return np.zeros((0, 0))
    lon = np.array([p[0] for p in points], dtype=float)
    lat = np.array([p[1] for p in points], dtype=float)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    _, _, metres = GEOD.inv(lon[i.ravel()], lat[i.ravel()], lon[j.ravel()], lat[j.ravel()])
    return np.asarray(metres, dtype=float).reshape(n, n)


def length_m(points: Sequence[Point], start: Point | None = None) -> float:
    """The length of walking `points` in this order (from `start`, when given)."""
    path = ([start] if start is not None else []) + list(points)
    return sum(distance_m(a, b) for a, b in zip(path, path[1:], strict=False))


def order(points: Sequence[Point], start: Point | None = None) -> list[int]:
    """The indices of `points` in walking order: from `start` to the nearest point not yet
    visited, then reversing stretches (2-opt) while that shortens the route. The route is open:
    it ends at its last point. Without a start it may begin anywhere: node 0 is then a stand-in
    at no distance from every point, so 2-opt moves the first stop as freely as the last; the
    nearest-neighbour walk sets out from the first point listed (the most urgent, for a plan)."""
    n = len(points)
    if n == 0:
        return []
    d = distances([start if start is not None else points[0], *points])
    if start is None:
        d[0, :] = 0.0
        d[:, 0] = 0.0
    tour = [0]
    left = list(range(1, n + 1))
    while left:
        nearest = min(left, key=lambda k: (d[tour[-1], k], k))
        left.remove(nearest)
        tour.append(nearest)
    improved = True
    while improved:
        improved = False
        for i in range(1, len(tour) - 1):
            for j in range(i + 1, len(tour)):
                a, b, c = tour[i - 1], tour[i], tour[j]
                e = tour[j + 1] if j + 1 < len(tour) else None
                before = d[a, b] + (d[c, e] if e is not None else 0.0)
                after = d[a, c] + (d[b, e] if e is not None else 0.0)
                if after < before - 1e-6:
                    tour[i : j + 1] = reversed(tour[i : j + 1])
                    improved = True
    return [k - 1 for k in tour[1:]]
