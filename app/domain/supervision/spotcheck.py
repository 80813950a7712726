"""Unannounced spot checks (暗访): a random sample of cells and sources, weighted towards the
stale, the flagged and the high-risk, ordered into a short route. Unpredictable without the
seed (a fresh one is drawn from the OS), reproducible with it."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app import clock
from app.domain.errors import DomainError
from app.domain.supervision import routes
from app.domain.supervision.gaps import Selection
from app.sql import load

RISK_WEIGHT = {"high": 3.0, "medium": 1.5, "low": 1.0}
MAX_STOPS = 50


@dataclass
class Stop:
    kind: str  # cell | source
    ref: str  # cell code or source id
    name: str
    lon: float
    lat: float
    weight: float
    why: list[str]


def weight_of(staleness: float | None, flagged: int, risk: str) -> tuple[float, list[str]]:
    why = []
    stale = 5.0 if staleness is None else min(5.0, max(0.0, float(staleness)))
    if staleness is None:
        why.append("never_patrolled")
    elif stale >= 1:
        why.append("stale")
    if flagged:
        why.append("flagged_reports")
    if risk == "high":
        why.append("high_risk")
    return round((1 + stale + min(flagged, 5)) * RISK_WEIGHT.get(risk, 1.0), 3), why


def sample(stops: list[Stop], n: int, rng: random.Random) -> list[Stop]:
    """Weighted sampling without replacement (Efraimidis–Spirakis keys u^(1/w))."""
    keyed = sorted(stops, key=lambda s: rng.random() ** (1 / s.weight), reverse=True)
    return keyed[:n]


def distance_m(a: Stop, b: Stop) -> float:
    return routes.distance_m((a.lon, a.lat), (b.lon, b.lat))


def route(stops: list[Stop]) -> list[Stop]:
    """A short route through the stops, starting where it is shortest
    (app/domain/supervision/routes.py)."""
    return [stops[k] for k in routes.order([(s.lon, s.lat) for s in stops])]


def plan(session: Session, selection: Selection, n: int, seed: int | None) -> dict[str, object]:
    if not 1 <= n <= MAX_STOPS:
        raise DomainError(f"n must be between 1 and {MAX_STOPS}")
    used_seed = seed if seed is not None else secrets.randbits(48)
    candidates = []
    for r in session.execute(
        load("spot_check_candidates"), selection.params() | {"now": clock.now()}
    ):
        weight, why = weight_of(r.staleness, r.flagged, r.risk)
        candidates.append(Stop(r.kind, r.ref, r.name, float(r.lon), float(r.lat), weight, why))
    candidates.sort(key=lambda s: (s.kind, s.ref))  # same input order → same draw for a seed
    chosen = route(sample(candidates, n, random.Random(used_seed)))
    length = sum(distance_m(a, b) for a, b in zip(chosen, chosen[1:], strict=False))
    return {
        "seed": used_seed,
        "candidates": len(candidates),
        "route_km": round(length / 1000, 2),
        "stops": [
            {
                "order": i + 1,
                "kind": s.kind,
                "ref": s.ref,
                "name": s.name,
                "lat": s.lat,
                "lon": s.lon,
                "weight": s.weight,
                "why": s.why,
            }
            for i, s in enumerate(chosen)
        ],
    }
