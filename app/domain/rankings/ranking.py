"""A ranking: the indicators per unit over a period, each with its value in the previous period
of the same length and the change, the best and the worst unit marked. The page, the API and
the downloads (CSV, XLSX) all come from `ranking()`; the indicators themselves are
app/domain/supervision/indicators.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app import clock
from app.domain.accountability.exports import Column, Row, Table
from app.domain.errors import DomainError
from app.domain.supervision.gaps import Selection
from app.domain.supervision.indicators import indicators

from .period import previous_period

# The rates, in the order pages and files show them: (key, 中文, English).
RATES = (
    ("patrol_met_rate", "巡查达标率", "patrol requirement met"),
    ("rectified_on_time_rate", "按期处置率", "rectified on time"),
    ("closed_rate", "结案率", "closed"),
    ("closed_on_time_rate", "按期结案率", "closed on time"),
    ("rework_rate", "返工率", "rework"),
    ("extension_rate", "延期率", "extended"),
    ("missed_rate", "漏报率", "missed by the grid"),
    ("relapse_rate", "反弹率", "relapse"),
    ("valid_report_rate", "有效上报率", "valid reports"),
)
# For these a rise is a worsening (the page shows it red).
LOWER_IS_BETTER = frozenset({"rework_rate", "extension_rate", "missed_rate", "relapse_rate"})
UNIT_LABEL = {
    "district": ("区县", "district"),
    "street": ("街道（乡镇）", "street"),
    "community": ("社区（村）", "community"),
    "leader": ("网格长", "grid leader"),
    "person": ("人员", "person"),
    "cell": ("单元网格", "unit cell"),
}


@dataclass
class Ranking:
    start: datetime
    end: datetime
    previous_start: datetime | None
    previous_end: datetime | None
    by: str
    rows: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "by": self.by,
            "rows": self.rows,
        }
        if self.previous_start is not None and self.previous_end is not None:
            out["previous"] = {
                "from": self.previous_start.isoformat(),
                "to": self.previous_end.isoformat(),
            }
        return out


def unit_of(row: dict[str, Any]) -> str:
    """The unit a row is about: a cell code, or a person's username."""
    return str(row.get("code") or row.get("username"))


def ranking(
    session: Session,
    selection: Selection,
    start: datetime,
    end: datetime,
    by: str,
    *,
    compare: bool = False,
    keep_counts: bool = False,
) -> Ranking:
    """`compare`: each row also carries `previous` (its rates in the period before) and
    `change`; with `keep_counts`, `previous_counts` too (the bulletin adds them up)."""
    if start >= clock.now():
        raise DomainError("from must lie in the past: a ranking reports on what happened")
    rows = indicators(session, selection, start, end, by)
    previous_start = previous_end = None
    if compare:
        previous_start, previous_end = previous_period(start, end)
        before = {
            unit_of(r): r for r in indicators(session, selection, previous_start, previous_end, by)
        }
        for r in rows:
            old = before.get(unit_of(r))
            r["previous"] = {k: old[k] if old else None for k, _, _ in RATES}
            if keep_counts:
                r["previous_counts"] = old["counts"] if old else {}
            r["change"] = {
                k: round(r[k] - old[k], 4)
                if old and r[k] is not None and old[k] is not None
                else None
                for k, _, _ in RATES
            }
    _mark_best_and_worst(rows)
    return Ranking(start, end, previous_start, previous_end, by, rows)


def _mark_best_and_worst(rows: list[dict[str, Any]]) -> None:
    """`standing`: "best" for the first of the ranking, "worst" for the last, when they differ."""
    for r in rows:
        r["standing"] = None
    rated = [r for r in rows if r["patrol_met_rate"] is not None]
    if len(rated) >= 2 and rated[0]["patrol_met_rate"] != rated[-1]["patrol_met_rate"]:
        best = rated[0]["patrol_met_rate"]
        worst = rated[-1]["patrol_met_rate"]
        for r in rated:
            if r["patrol_met_rate"] == best:
                r["standing"] = "best"
            elif r["patrol_met_rate"] == worst:
                r["standing"] = "worst"


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def ranking_table(result: Ranking) -> Table:
    """The ranking as an export table (CSV, XLSX): one row per unit, in ranking order, rates in
    per cent, the patrol requirement also in the previous period and its change."""
    person = result.by in ("leader", "person")
    unit_zh, unit_en = UNIT_LABEL[result.by]
    columns = [
        Column("rank", "排名", "rank", "number", 8),
        Column("unit", "用户名" if person else "编码", "username" if person else "code", width=18),
        Column("name", unit_zh, unit_en, width=22),
        Column("patrol_met_rate", "巡查达标率(%)", "patrol requirement met (%)", "number", 14),
        Column("previous", "上期巡查达标率(%)", "previous period (%)", "number", 14),
        Column("change", "变化(百分点)", "change (points)", "number", 12),
        *(Column(k, f"{zh}(%)", f"{en} (%)", "number", 12) for k, zh, en in RATES[1:]),
        Column("duty_hours", "应巡查网格小时", "cell-hours on duty", "number", 14),
        Column("filed", "上报数", "reports filed", "number", 10),
        Column("counted", "有效上报数", "reports counted", "number", 10),
        Column("due", "到期问题数", "hotspots due", "number", 10),
        Column("missed", "漏报数", "missed by the grid", "number", 10),
    ]

    def rows() -> Iterator[Row]:
        for r in result.rows:
            values = {
                "rank": r["rank"],
                "unit": unit_of(r),
                "name": r["name"],
                **{k: _percent(r[k]) for k, _, _ in RATES},
                "previous": _percent((r.get("previous") or {}).get("patrol_met_rate")),
                "change": _percent((r.get("change") or {}).get("patrol_met_rate")),
                **{k: r["counts"][k] for k in ("duty_hours", "filed", "counted", "due", "missed")},
            }
            yield Row(values=values, nested=r)

    return Table(
        kind="indicators",
        title_zh=f"{unit_zh}排名",
        title_en=f"ranking by {unit_en}",
        columns=tuple(columns),
        rows=rows,
        geometry="cell",
    )
