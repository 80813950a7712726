"""The database chains audit entries from three pieces of their canonical JSON built in
Python; put back together around `at` and `seq` they must be that JSON, byte for byte."""

from __future__ import annotations

import json
import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.domain.audit import (
    _CANONICAL,
    _PLAIN,
    _canon_floats,
    _dump,
    canonical,
    jsonable,
    pieces,
)

VALUES: list[Any] = [
    None,
    0,
    -7,
    2**53,
    0.1,
    1e20,
    -0.0,
    "巡查",
    'quote " and \\ backslash\n',
    "\u2028",
    True,
    [],
    {},
]


def value(rng: random.Random, depth: int = 0) -> Any:
    if depth < 2 and rng.random() < 0.4:
        keys = ["at", "seq", "after", "before", "a", "z", "键"]
        return {k: value(rng, depth + 1) for k in rng.sample(keys, rng.randint(0, 4))}
    if depth < 2 and rng.random() < 0.2:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(VALUES)


def test_pieces_around_at_and_seq_are_the_canonical_json() -> None:
    rng = random.Random(9)
    for _ in range(500):
        fields = {
            "actor": rng.choice(["admin", "insp", "cli:root", "系统"]),
            "actor_id": rng.choice([None, 1, 2**40]),
            "action": rng.choice(["report.create", "hotspot.transition"]),
            "target_type": "report",
            "target_id": rng.choice([None, "3f2c", "1"]),
            "cell_id": rng.choice([None, 12]),
            "before": jsonable(value(rng)),
            "after": jsonable(value(rng)),
        }
        seq = rng.randint(1, 10**12)
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randint(0, 10**14))
        head, middle, tail = pieces(**fields)
        stamp = at.isoformat(timespec="microseconds")
        assert (head + stamp + middle + str(seq) + tail).encode() == canonical(
            seq=seq, at=at, **fields
        )


def test_jsonable_gives_what_the_json_round_trip_gives() -> None:
    """`jsonable` skips the JSON round trip for plain types; it must give what that trip does,
    type for type (a 1 stays an int, a 1.0 a float), and fall back for anything else."""
    extra: list[Any] = [
        math.nan,
        math.inf,
        -math.inf,
        1.0,
        1e16,
        123.456,
        datetime(2026, 3, 1, 8, 30, tzinfo=UTC),
        datetime(2026, 3, 1, 8, 30),
        datetime(2026, 3, 1).date(),
        uuid.UUID(int=7),
        Decimal("1.50"),
        (1, "a"),
        {3, 1, 2},
        frozenset({"b", "a"}),
        {1: "int key"},
        {"nested": [(0.5, None), {"k": math.nan}]},
    ]
    rng = random.Random(4)
    samples = extra + [value(rng) for _ in range(300)]
    for sample in samples:
        expected = _canon_floats(json.loads(_PLAIN.encode(sample)))
        got = jsonable(sample)
        assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True), sample
        assert repr(got) == repr(expected), sample


def test_the_fast_canonical_dump_writes_the_json_modules_bytes() -> None:
    """Canonical JSON goes through orjson when it writes the same bytes as the json module;
    floats of every magnitude, digits and exponents inside strings, wide integers and
    non-text keys either match or take the json module's way."""
    rng = random.Random(11)

    def number() -> Any:
        kind = rng.random()
        if kind < 0.4:
            return rng.uniform(-1, 1) * 10 ** rng.randint(-12, 20)
        if kind < 0.6:
            return rng.choice([0.1, 1e-4, 9.99e-5, 1e15, 1e16 + 2, 2.5, 112.283319, 1e-300])
        if kind < 0.8:
            return rng.choice([0, -1, 2**63 - 1, 2**64, -(2**70), 10**30])
        return rng.choice(["1e5", "0.00001", "巡查 3E", "a\u2028b", '\x00\x1f"\\', "x"])

    def nested(depth: int = 0) -> Any:
        if depth < 3 and rng.random() < 0.3:
            return {rng.choice(["a", "b", "键", "Z", "at", "1"]): nested(depth + 1) for _ in "ab"}
        if depth < 3 and rng.random() < 0.2:
            return [nested(depth + 1) for _ in range(rng.randint(0, 3))]
        return number()

    for _ in range(3000):
        sample = _canon_floats(nested())
        assert _dump(sample) == _CANONICAL.encode(sample), sample
    assert _dump({2: "int keys", 1: None}) == _CANONICAL.encode({2: "int keys", 1: None})
