"""What the discipline-inspection office exports (SPEC §5–7): lapses with the people on duty
then (accountability), hotspots the grid missed (漏报) and reports voided as fraud.

Each kind is a `Table`: bilingual columns and a generator of rows, read in chunks so a
province-month streams through without being held in memory. The lapse rows come from the
lapse engine (`iter_lapses`); nothing here re-derives a lapse. Writing them out as JSON, CSV,
XLSX or GeoJSON is `app/domain/accountability/exportfile.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, literal, not_, select
from sqlalchemy.orm import Session

from app import rules
from app.domain.supervision.gaps import Selection
from app.domain.supervision.lapses import Lapse, duties_in_window, iter_lapses
from app.domain.timeparse import local_zone
from app.models import Cell, Hotspot, Person, Report
from app.models.base import LTree

# SPEC §4: flags that mean a report was faked, not merely imprecise.
FRAUD_FLAGS = ("duplicate_photo", "exif_mismatch", "impossible_speed")
CHUNK = 2_000

DUTY_LABEL = {"leader": "网格长", "member": "网格员", "patroller": "巡查员", "supervisor": "监督员"}
LAPSE_LABEL = {
    "unpatrolled": ("未按期巡查", "unpatrolled"),
    "overdue_hotspot": ("问题逾期未整改", "overdue hotspot"),
    "unstaffed": ("网格缺员", "unstaffed"),
}


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: str = "text"  # text | datetime | number
    width: int = 14

    def header(self) -> str:
        return f"{self.zh} {self.en}"


@dataclass
class Row:
    values: dict[str, Any]  # by column key; datetimes are aware (UTC or local)
    nested: dict[str, Any]  # the JSON shape (e.g. `responsible` as a list)
    cell_id: int | None = None
    point: tuple[float, float] | None = None  # lon, lat for point features


@dataclass(frozen=True)
class Table:
    kind: str
    title_zh: str
    title_en: str
    columns: tuple[Column, ...]
    rows: Callable[[], Iterator[Row]]
    geometry: str  # "cell" (the cell's polygon) or "point"


class Places:
    """District and street of each leaf cell, from its ancestors (ltree path of ids). A
    district is the deepest ancestor with a six-digit code (GB/T 2260), else level 2; a street
    the deepest with nine digits, else level 3."""

    def __init__(self, session: Session, path: str | None = None) -> None:
        """Every non-leaf cell, or (given one leaf's path) just that leaf's ancestors."""
        stmt = select(Cell.id, Cell.code, Cell.name, Cell.level).where(not_(Cell.is_leaf))
        if path is not None:
            stmt = stmt.where(Cell.id.in_([int(i) for i in path.split(".")[:-1]]))
        self.cells = {r.id: r for r in session.execute(stmt)}

    def of(self, path: str) -> tuple[str, str]:
        ancestors = [self.cells[int(i)] for i in path.split(".")[:-1] if int(i) in self.cells]
        return self._pick(ancestors, 6, 2), self._pick(ancestors, 9, 3)

    @staticmethod
    def _pick(ancestors: list[Any], digits: int, level: int) -> str:
        by_code = [a for a in ancestors if len(a.code) == digits and a.code.isdigit()]
        if by_code:
            return str(by_code[-1].name)
        by_level = [a for a in ancestors if a.level == level]
        return str(by_level[-1].name) if by_level else ""


def _local(t: Any) -> str:
    return t.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M") if t else ""


def requirement(lapse: Lapse, lang: str) -> str:
    if lapse.lapse == "unpatrolled":
        h = lapse.patrol_interval_hours
        last = _local(lapse.last_patrol_at) or ("无" if lang == "zh" else "none")
        if lang == "zh":
            return f"每{h}小时至少有效巡查一次（此前最后一次有效巡查：{last}）"
        return f"a counted patrol at least every {h} h (last counted patrol before: {last})"
    if lapse.lapse == "overdue_hotspot":
        ids = "、".join(str(h)[:8] for h in lapse.hotspots)
        if lang == "zh":
            return f"问题须在整改期限前整改到位（逾期问题：{ids}）"
        return f"hotspots rectified by their deadline (overdue: {ids})"
    if lang == "zh":
        return "网格须有网格长，以及网格员或巡查员在岗"
    return "a grid leader and a member or patroller on duty"


def _person_text(duty: Any, name: Any, phone: Any, username: Any, lang: str) -> str:
    label = DUTY_LABEL.get(duty, duty) if lang == "zh" else duty
    return f"{label} {name} {phone or '-'} ({username})"


# Where a row's cell lies: every export starts (or nearly) with these.
PLACE_COLUMNS = (
    Column("cell_code", "网格编码", "Cell code", width=18),
    Column("cell_name", "网格名称", "Cell name", width=22),
    Column("district", "区县", "District", width=12),
    Column("street", "街道乡镇", "Street", width=14),
)
LAPSE_COLUMNS = (
    *PLACE_COLUMNS,
    Column("lapse", "失职类型", "Lapse", width=16),
    Column("start", "开始时间", "Start", "datetime", 17),
    Column("end", "结束时间", "End", "datetime", 17),
    Column("hours", "时长(小时)", "Hours", "number", 10),
    Column("requirement", "未履行的要求", "Requirement missed", width=48),
    Column("responsible", "责任人(岗位 姓名 电话 账号 在岗时段)", "Responsible", width=60),
)


def accountability(
    session: Session, selection: Selection, start: datetime, end: datetime, lang: str
) -> Table:
    places = Places(session)

    def rows() -> Iterator[Row]:
        for x in iter_lapses(session, selection, start, end, CHUNK):
            district, street = places.of(x.cell_path)
            people: list[dict[str, Any]] = [
                {
                    "duty": r.duty,
                    "name": r.name,
                    "phone": r.phone,
                    "username": r.username,
                    "start": r.start,
                    "end": r.end,
                    "overlap_hours": round((r.end - r.start).total_seconds() / 3600, 2),
                }
                for r in x.responsible
            ]
            text = "\n".join(
                _person_text(p["duty"], p["name"], p["phone"], p["username"], lang)
                + f" {_local(p['start'])}–{_local(p['end'])}"
                for p in people
            )
            label = LAPSE_LABEL[x.lapse][0 if lang == "zh" else 1]
            values = {
                "cell_code": x.cell_code,
                "cell_name": x.cell_name,
                "district": district,
                "street": street,
                "lapse": label,
                "start": x.start,
                "end": x.end,
                "hours": x.hours,
                "requirement": requirement(x, lang),
                "responsible": text or ("无人在岗" if lang == "zh" else "nobody on duty"),
            }
            nested = values | {
                "lapse": x.lapse,
                "lapse_label": label,
                "last_patrol_at": x.last_patrol_at,
                "hotspots": [str(h) for h in x.hotspots],
                "responsible": people,
            }
            yield Row(values, nested, cell_id=x.cell_id)

    return Table(
        "accountability",
        "网格失职记录（问责）",
        "Lapses with the people responsible",
        LAPSE_COLUMNS,
        rows,
        "cell",
    )


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
            _person_text(p["duty"], p["name"], p["phone"], p["username"], lang) for p in people
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
