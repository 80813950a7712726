"""What the discipline-inspection office exports (SPEC §5–7): lapses with the people on duty
then (accountability), hotspots the grid missed (漏报) and reports voided as fraud.

Each kind is a `Table` (app/domain/accountability/tables.py): bilingual columns and a
generator of rows, read in chunks so a province-month streams through without being held in
memory. The lapse rows (app/domain/accountability/lapsetable.py) come from the lapse engine
(`iter_lapses`); nothing here re-derives a lapse. Writing them out as JSON, CSV,
XLSX or GeoJSON is `app/domain/accountability/exportfile.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.orm import Session

from app import rules
from app.domain.accountability.lapsetable import accountability
from app.domain.accountability.tables import (
    PLACE_COLUMNS,
    Column,
    Places,
    Row,
    Table,
    person_text,
)
from app.domain.supervision.gaps import Selection
from app.domain.supervision.lapses import duties_in_window
from app.models import Cell, Hotspot, Person, Report
from app.models.base import LTree

__all__ = ["KINDS", "Column", "Places", "Row", "Table", "accountability", "cell_shapes"]

# SPEC §4: flags that mean a report was faked, not merely imprecise.
FRAUD_FLAGS = ("duplicate_photo", "exif_mismatch", "impossible_speed")
CHUNK = 2_000


def _in_selection(selection: Selection, cell_id: Any) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [cell_id.is_not(None)]
    if selection.root_path is not None:
        subtree = select(Cell.id).where(Cell.path.op("<@")(literal(selection.root_path, LTree)))
        conditions.append(cell_id.in_(subtree))
    if selection.cell_ids is not None:
        conditions.append(cell_id.in_(selection.cell_ids))
    return conditions


def _on_duty_at(
    session: Session, items: list[tuple[int, datetime]], lang: str
) -> list[tuple[list[dict[str, Any]], str]]:
    """For (cell, instant) pairs: who held a duty on that cell then, as data and as text."""
    if not items:
        return []
    lo = min(t for _, t in items)
    hi = max(t for _, t in items) + timedelta(microseconds=1)
    duties = duties_in_window(session, sorted({c for c, _ in items}), lo, hi)
    out = []
    for cell_id, at in items:
        people: list[dict[str, Any]] = [
            {"duty": d.duty, "name": d.name, "phone": d.phone, "username": d.username}
            for d in duties.get(cell_id, [])
            if (d.valid_from is None or d.valid_from <= at)
            and (d.valid_to is None or d.valid_to > at)
        ]
        text = "\n".join(
            person_text(p["duty"], p["name"], p["phone"], p["username"], lang) for p in people
        )
        out.append((people, text or ("无人在岗" if lang == "zh" else "nobody on duty")))
    return out


MISSED_COLUMNS = (
    Column("hotspot_id", "问题编号", "Hotspot", width=38),
    *PLACE_COLUMNS,
    Column("source", "发现渠道", "Found by", width=12),
    Column("category", "类别", "Category", width=12),
    Column("description", "问题描述", "Description", width=40),
    Column("found_at", "发现时间", "Found at", "datetime", 17),
    Column("status", "当前状态", "Status", width=12),
    Column("responsible", "当时在岗责任人", "On duty then", width=60),
)
SOURCE_LABEL = {
    "complaint": "群众举报",
    "inspection": "督察检查",
    "fire_point": "火点监测",
    "monitoring": "在线监测",
    "patrol": "网格巡查",
}


def missed_problems(
    session: Session, selection: Selection, start: datetime, end: datetime, lang: str
) -> Table:
    """漏报: hotspots found by others in a cell whose grid had not reported them (SPEC §4)."""
    places = Places(session)

    def rows() -> Iterator[Row]:
        stmt = (
            select(Hotspot, Cell.code, Cell.name, Cell.path)
            .join(Cell, Cell.id == Hotspot.cell_id)
            .where(
                Hotspot.missed_by_grid,
                # rejected as unfounded (不予立案): nothing the grid missed, as in the gaps
                Hotspot.status.not_in(rules.UNFOUNDED),
                Hotspot.found_at >= start,
                Hotspot.found_at < end,
                *_in_selection(selection, Hotspot.cell_id),
            )
            .order_by(Cell.code, Hotspot.found_at, Hotspot.id)
        )
        yield from _chunked(session, stmt, lambda batch: _missed_rows(session, batch, places, lang))

    return Table(
        "missed-problems", "漏报问题清单", "Problems the grid missed", MISSED_COLUMNS, rows, "point"
    )


def _missed_rows(session: Session, batch: list[Any], places: Places, lang: str) -> Iterator[Row]:
    duty = _on_duty_at(session, [(h.cell_id, h.found_at) for h, *_ in batch], lang)
    for (h, code, name, path), (people, text) in zip(batch, duty, strict=True):
        district, street = places.of(path)
        values = {
            "hotspot_id": str(h.id),
            "cell_code": code,
            "cell_name": name,
            "district": district,
            "street": street,
            "source": SOURCE_LABEL.get(h.source, h.source) if lang == "zh" else h.source,
            "category": h.category,
            "description": h.description,
            "found_at": h.found_at,
            "status": h.status,
            "responsible": text,
        }
        nested = values | {"source": h.source, "lat": h.lat, "lon": h.lon, "responsible": people}
        yield Row(values, nested, cell_id=h.cell_id, point=(h.lon, h.lat))


FALSE_COLUMNS = (
    Column("report_id", "上报编号", "Report", width=38),
    Column("reporter", "上报人", "Reporter", width=24),
    *PLACE_COLUMNS,
    Column("observed_at", "上报时间", "Observed at", "datetime", 17),
    Column("flags", "作假特征", "Fraud signs", width=28),
    Column("review", "审核结果", "Review", width=12),
    Column("review_note", "审核意见", "Review note", width=30),
    Column("description", "上报内容", "Description", width=40),
)
FLAG_LABEL = {
    "duplicate_photo": "重复照片",
    "exif_mismatch": "照片位置/时间不符",
    "impossible_speed": "移动速度不可能",
}


def false_reports(
    session: Session, selection: Selection, start: datetime, end: datetime, lang: str
) -> Table:
    """Reports that carry a fraud flag and do not count (not accepted on review)."""
    places = Places(session)

    def rows() -> Iterator[Row]:
        stmt = (
            select(
                Report, Person.username, Person.name, Person.phone, Cell.code, Cell.name, Cell.path
            )
            .join(Person, Person.id == Report.reporter_id)
            .join(Cell, Cell.id == Report.cell_id)
            .where(
                Report.flags.overlap(list(FRAUD_FLAGS)),
                Report.counted.is_(False),
                Report.observed_at >= start,
                Report.observed_at < end,
                *_in_selection(selection, Report.cell_id),
            )
            .order_by(Cell.code, Report.observed_at, Report.id)
        )
        yield from _chunked(session, stmt, lambda batch: _false_rows(batch, places, lang))

    return Table(
        "false-reports", "虚假上报清单", "Reports voided as fraud", FALSE_COLUMNS, rows, "point"
    )


def _false_rows(batch: list[Any], places: Places, lang: str) -> Iterator[Row]:
    for r, username, pname, phone, code, cname, path in batch:
        district, street = places.of(path)
        fraud = [f for f in r.flags if f in FRAUD_FLAGS]
        review = r.review_status or ("待审核" if lang == "zh" else "pending")
        if lang == "zh" and r.review_status:
            review = {"rejected": "不予认可", "accepted": "认可"}.get(r.review_status, review)
        values = {
            "report_id": str(r.id),
            "reporter": f"{pname} {phone or '-'} ({username})",
            "cell_code": code,
            "cell_name": cname,
            "district": district,
            "street": street,
            "observed_at": r.observed_at,
            "flags": "、".join(FLAG_LABEL[f] for f in fraud) if lang == "zh" else ", ".join(fraud),
            "review": review,
            "review_note": r.review_note or "",
            "description": r.description or "",
        }
        nested = values | {
            "reporter": {"username": username, "name": pname, "phone": phone},
            "flags": fraud,
            "review": r.review_status,
            "received_at": r.received_at,
            "lat": r.lat,
            "lon": r.lon,
        }
        yield Row(values, nested, cell_id=r.cell_id, point=(r.lon, r.lat))


def _chunked(
    session: Session, stmt: Any, convert: Callable[[list[Any]], Iterator[Row]]
) -> Iterator[Row]:
    """Stream a query's rows in batches (a server-side cursor), converting each batch."""
    result = session.execute(stmt.execution_options(yield_per=CHUNK))
    for batch in result.partitions():
        yield from convert(list(batch))
        session.expunge_all()


KINDS: dict[str, Callable[[Session, Selection, datetime, datetime, str], Table]] = {
    "accountability": accountability,
    "missed-problems": missed_problems,
    "false-reports": false_reports,
}


def cell_shapes(session: Session, cell_ids: list[int]) -> dict[int, str]:
    """GeoJSON geometry text per cell (6 decimals: ~0.1 m)."""
    rows = session.execute(
        select(Cell.id, func.ST_AsGeoJSON(Cell.geom, 6)).where(Cell.id.in_(cell_ids))
    )
    return {cell_id: shape for cell_id, shape in rows}
