"""Property: whatever mix of good and broken features a GeoJSON or Shapefile holds (open
rings, rings of one to three points, NaN and infinite coordinates, self-intersections, empty
and null geometries, points and lines, blank attributes), `gridwatch import-grid` never lets a
traceback or a Python warning reach the terminal; it exits non-zero, names every rejected
feature and imports nothing whenever anything was rejected, and otherwise imports every
feature, a blank risk getting the default.

Bounded: derandomized, 40 files (some 10 s)."""

from __future__ import annotations

import itertools
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.grid.cells import DEFAULT_RISK
from app.domain.grid.imports import RISK_WORDS
from app.models import AuditEntry, Cell
from tests.cli.helpers import run_cli
from tests.cli.rawgeo import BROKEN, GOOD, REPAIRABLE, SHAPES, write_geojson, write_shapefile
from tests.factories import X0, Y0

BLANKS = ["", "   ", None]
runs = itertools.count()  # a fresh code prefix per example: the database is emptied per test


@dataclass
class Feature:
    shape: str
    code_blank: bool
    name: str | None
    risk: str | None
    parent_pick: int | None  # an earlier feature as parent


features = st.builds(
    Feature,
    # Good shapes weigh more, so that some files are wholly good and are imported.
    shape=st.sampled_from([*GOOD * 6, *REPAIRABLE * 3, *sorted(BROKEN)]),
    code_blank=st.sampled_from([False] * 9 + [True]),
    name=st.sampled_from(["网格", "Grid", *BLANKS]),
    risk=st.sampled_from(["high", "中", "LOW", *BLANKS]),
    parent_pick=st.one_of(st.none(), st.integers(0, 7)),
)


def rejected(f: Feature, strict: bool) -> bool:
    blank_name = f.name is None or not f.name.strip()
    broken = f.shape in BROKEN or (strict and f.shape in REPAIRABLE)
    return f.code_blank or blank_name or broken


def stored(db: Session) -> tuple[int, int]:
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(Cell)) or 0,
        db.scalar(select(func.count()).select_from(AuditEntry)) or 0,
    )


@settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    # No shrinking: a failing file of at most 8 features reads well as generated, and
    # shrinking one takes minutes.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fmt=st.sampled_from(["geojson", "shp"]),
    strict=st.booleans(),
    layer=st.lists(features, min_size=1, max_size=8),
)
def test_import_grid_never_half_imports_and_never_shows_a_traceback(
    db: Session, fmt: str, strict: bool, layer: list[Feature]
) -> None:
    prefix = f"P{next(runs)}-"
    codes = [f"{prefix}{i}" for i in range(1, len(layer) + 1)]
    rows: list[tuple[dict[str, Any], Any]] = []
    for i, f in enumerate(layer):
        parent = codes[f.parent_pick % i] if f.parent_pick is not None and i else None
        props = {
            "code": None if f.code_blank else codes[i],
            "name": f.name,
            "risk": f.risk,
            "parent": parent,
        }
        rows.append((props, SHAPES[f.shape](X0 + 0.01 * (i % 4), Y0 + 0.01 * (i // 4))))
    args = ["--parent-field", "parent", "--risk-field", "risk", *(["--strict"] if strict else [])]
    before = stored(db)

    with tempfile.TemporaryDirectory() as tmp:
        writer = write_geojson if fmt == "geojson" else write_shapefile
        path = writer(Path(tmp) / f"grid.{fmt}", rows)
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            result = run_cli("import-grid", str(path), *args)

    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in output, output
    assert not said, [f"{w.category.__name__}: {w.message}" for w in said]
    bad = [i for i, f in enumerate(layer, start=1) if rejected(f, strict)]
    event("rejected" if bad else "imported")
    if bad:
        assert result.exit_code == 1, output
        assert f"{path}: rejected, nothing imported" in output
        for i in bad:
            label = f"feature {i}:" if layer[i - 1].code_blank else f"feature {i} (code "
            assert label in output, (i, output)
        assert stored(db) == before
    else:
        assert result.exit_code == 0, output
        assert f"{len(layer)} cells added, 0 updated" in output
        assert stored(db)[0] == before[0] + len(layer)
        risks = dict(db.execute(select(Cell.code, Cell.risk).where(Cell.code.in_(codes))).all())
        for code, f in zip(codes, layer, strict=True):
            given_risk = (f.risk or "").strip().lower()
            assert risks[code] == RISK_WORDS.get(given_risk, DEFAULT_RISK), (code, f)
