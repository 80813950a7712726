"""Timing helpers for the benchmarks: repeat a call, report median, p95 and rate."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return samples


def summary(name: str, samples: list[float], per: int = 1) -> dict[str, object]:
    ordered = sorted(samples)
    return {
        "name": name,
        "n": len(samples),
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        # nearest rank: the smallest sample at or above 95 % of them
        "p95_ms": round(ordered[math.ceil(0.95 * len(ordered)) - 1] * 1000, 3),
        "per_second": round(per * len(samples) / sum(samples), 1),
    }
