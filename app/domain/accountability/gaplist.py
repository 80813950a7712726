"""The gap list (SPEC §5) as a file: every unit cell with a gap at an instant, where it lies
and why, as CSV (UTF-8 with BOM) or XLSX — what the map's export button hands a supervisor
with the accountability export. The rows are the gap engine's (`find_gaps`); the writer is
the exports' (app/domain/accountability/exportfile.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.accountability.exports import PLACE_COLUMNS, Column, Places, Row, Table
from app.domain.supervision.gaps import Gaps
from app.models import Cell

GAP_COLUMNS = (
    *PLACE_COLUMNS,
    Column("reasons", "盲区原因", "Reasons", width=36),
    Column("last_patrol_at", "最近有效巡查", "Last counted patrol", "datetime", 17),
    Column("patrol_interval_hours", "巡查周期(小时)", "Patrol interval (h)", "number", 10),
    Column("open_hotspots", "未办结问题", "Open hotspots", "number", 10),
    Column("overdue_hotspots", "逾期问题", "Overdue hotspots", "number", 10),
    Column("uninspected_sources", "未巡查污染源", "Uninspected sources", "number", 10),
    Column("missed_problems", "漏报问题", "Missed problems", "number", 10),
)


def gap_table(session: Session, gaps: Gaps, labels: Mapping[str, str], sep: str) -> Table:
    """`labels`: the words for each reason in the reader's language, joined with `sep`."""
    places = Places(session)
    paths = {
        cell_id: path
        for cell_id, path in session.execute(
            select(Cell.id, Cell.path).where(Cell.id.in_([c.id for c in gaps.cells]))
        )
    }

    def rows() -> Iterator[Row]:
        for c in gaps.cells:
            district, street = places.of(paths[c.id])
            values = {
                "cell_code": c.code,
                "cell_name": c.name,
                "district": district,
                "street": street,
                "reasons": sep.join(labels.get(r, r) for r in c.reasons),
                "last_patrol_at": c.last_patrol_at,
                "patrol_interval_hours": c.patrol_interval_hours,
                "open_hotspots": c.open_hotspots,
                "overdue_hotspots": c.overdue_hotspots,
                "uninspected_sources": c.uninspected_sources,
                "missed_problems": c.missed_problems,
            }
            yield Row(values, values | {"reasons": c.reasons}, cell_id=c.id)

    return Table("gaps", "盲区清单", "Cells with gaps", GAP_COLUMNS, rows, "cell")
