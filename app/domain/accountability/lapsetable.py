"""The accountability table (SPEC §5–6): one row per lapse with everyone on duty during it,
and, from the same lapses, one row per person × lapse and a summary per person — so a
discipline case can be filtered and totalled by person. Overdue lapses name each case in
full (id, deadline, assignee, dispatcher); unstaffed ones name the vacant posts.

The lapses come from the lapse engine (`iter_lapses`, which also applies the tolerance
`min_hours`); nothing here re-derives one. People named by id in the lapses (assignees,
dispatchers) are looked up once per batch of lapses, never per row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.accountability.tables import (
    PLACE_COLUMNS,
    Column,
    Places,
    Row,
    Sheet,
    Summary,
    Table,
    duty_label,
    local_text,
    person_text,
)
from app.domain.supervision.gaps import Selection
from app.domain.supervision.intervals import merge
from app.domain.supervision.lapses import Lapse, OverdueCase, iter_lapses
from app.models import Person

BATCH = 2_000  # lapses whose people are looked up together

LAPSE_LABEL = {
    "unpatrolled": ("未按期巡查", "unpatrolled"),
    "overdue_hotspot": ("问题逾期未整改", "overdue hotspot"),
    "unstaffed": ("网格缺员", "unstaffed"),
}
LAPSE_COLUMNS = (
    *PLACE_COLUMNS,
    Column("lapse", "失职类型", "Lapse", width=16),
    Column("start", "开始时间", "Start", "datetime", 17),
    Column("end", "结束时间", "End", "datetime", 17),
    Column("hours", "时长(小时)", "Hours", "number", 10),
    Column("requirement", "未履行的要求", "Requirement missed", width=48),
    Column("responsible", "责任人(岗位 姓名 电话 账号 在岗时段)", "Responsible", width=60),
    Column("cases", "逾期问题(编号 期限 承办人 派遣人)", "Overdue cases", width=70),
    Column("vacant", "空缺岗位", "Vacant posts", width=18),
)
PERSON_SHEET = Sheet(
    "责任人明细",
    "By person",
    (
        Column("duty", "岗位", "Post", width=10),
        Column("name", "姓名", "Name", width=10),
        Column("username", "账号", "Username", width=14),
        Column("phone", "电话", "Phone", width=14),
        Column("unit", "单位(区县 街道)", "Unit", width=20),
        Column("cell_code", "网格编码", "Cell code", width=18),
        Column("cell_name", "网格名称", "Cell name", width=22),
        Column("lapse", "失职类型", "Lapse", width=16),
        Column("start", "失职开始", "Lapse start", "datetime", 17),
        Column("end", "失职结束", "Lapse end", "datetime", 17),
        Column("overlap_hours", "本人重叠时长(小时)", "Overlap hours", "number", 12),
    ),
)
SUMMARY_SHEET = Sheet(
    "责任人汇总",
    "Per person",
    (
        Column("name", "姓名", "Name", width=10),
        Column("username", "账号", "Username", width=14),
        Column("phone", "电话", "Phone", width=14),
        Column("duties", "岗位", "Posts", width=16),
        Column("units", "单位", "Units", width=24),
        Column("lapses", "涉及失职(条)", "Lapses", "number", 10),
        Column("hours", "累计重叠时长(小时)", "Hours", "number", 12),
        Column("cells", "涉及网格(个)", "Cells", "number", 10),
        Column("overdue_cases", "承办逾期问题(件)", "Overdue cases assigned", "number", 12),
    ),
)


Span = tuple[datetime, datetime]


@dataclass
class _Person:
    values: dict[str, Any]
    # The person's spans in each lapse (by its key): one person may hold two roles in one
    # lapse (on duty and the assignee of its overdue case), which is still one lapse.
    lapses: dict[tuple[Any, ...], list[Span]] = field(default_factory=dict)
    duties: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    cells: set[str] = field(default_factory=set)
    cases: set[str] = field(default_factory=set)

    def hours(self) -> float:
        """Each lapse's hours once: the union of the person's spans in it."""
        spans = self.lapses.values()
        return round(sum(_hours(a, b) for s in spans for a, b in merge(s)), 2)


class PersonSummary(Summary):
    """One row per person: the distinct lapses the person's rows belong to, the hours of
    each counted once (roles in one lapse merged), the distinct cells, and the overdue
    cases the person was the assignee of."""

    sheet = SUMMARY_SHEET

    def __init__(self) -> None:
        self.people: dict[str, _Person] = {}

    def add(self, row: dict[str, Any]) -> None:
        p = self.people.setdefault(
            row["username"],
            _Person({"name": row["name"], "username": row["username"], "phone": row["phone"]}),
        )
        p.lapses.setdefault(row["lapse_key"], []).extend(row["spans"])
        p.cells.add(row["cell_code"])
        for seen, value in ((p.duties, row["duty"]), (p.units, row["unit"])):
            if value and value not in seen:
                seen.append(value)
        p.cases.update(row.get("case_ids", ()))

    def rows(self) -> list[dict[str, Any]]:
        hours = {name: p.hours() for name, p in self.people.items()}
        ranked = sorted(self.people, key=lambda name: (-hours[name], name))
        return [
            (p := self.people[name]).values
            | {
                "duties": "、".join(p.duties),
                "units": "、".join(p.units),
                "lapses": len(p.lapses),
                "hours": hours[name],
                "cells": len(p.cells),
                "overdue_cases": len(p.cases),
            }
            for name in ranked
        ]


def _hours(a: datetime, b: datetime) -> float:
    return round((b - a).total_seconds() / 3600, 2)


def requirement(lapse: Lapse, lang: str) -> str:
    if lapse.lapse == "unpatrolled":
        h = lapse.patrol_interval_hours
        last = local_text(lapse.last_patrol_at) or ("无" if lang == "zh" else "none")
        if lang == "zh":
            return f"每{h}小时至少有效巡查一次（此前最后一次有效巡查：{last}）"
        return f"a counted patrol at least every {h} h (last counted patrol before: {last})"
    if lapse.lapse == "overdue_hotspot":
        ids = "、".join(str(h) for h in lapse.hotspots)
        if lang == "zh":
            return f"问题须在整改期限前整改到位（逾期问题：{ids}）"
        return f"hotspots rectified by their deadline (overdue: {ids})"
    vacant = "、".join(duty_label(d, lang) for d in lapse.vacant)
    if lang == "zh":
        return f"网格须有网格长，以及网格员或巡查员在岗（空缺岗位：{vacant}）"
    return f"a grid leader and a member or patroller on duty (vacant: {vacant})"


def _people_of(session: Session, lapses: list[Lapse]) -> dict[int, Any]:
    """The persons the batch's overdue cases name (assignees, dispatchers): one query."""
    wanted = {i for x in lapses for c in x.cases for i in (c.assignee_id, c.dispatcher_id) if i}
    if not wanted:
        return {}
    rows = session.execute(
        select(Person.id, Person.username, Person.name, Person.phone).where(
            Person.id.in_(sorted(wanted))
        )
    )
    return {r.id: r for r in rows}


def _case_json(case: OverdueCase, people: dict[int, Any]) -> dict[str, Any]:
    def who(person_id: int | None) -> dict[str, Any] | None:
        p = people.get(person_id) if person_id else None
        return {"username": p.username, "name": p.name, "phone": p.phone} if p else None

    dispatcher = who(case.dispatcher_id)
    if dispatcher is None and case.dispatcher_label:
        dispatcher = {"username": case.dispatcher_label, "name": None, "phone": None}
    return {
        "hotspot_id": str(case.hotspot_id),
        "deadline": case.deadline,
        "assignee": who(case.assignee_id),
        "dispatcher": dispatcher,
        "start": case.start,
        "end": case.end,
        "overdue_hours": _hours(case.start, case.end),
    }


def _case_text(case: dict[str, Any], lang: str) -> str:
    def who(p: dict[str, Any] | None) -> str:
        if p is None:
            return "-"
        return f"{p['name'] or ''} {p['phone'] or ''} ({p['username']})".strip()

    if lang == "zh":
        return (
            f"{case['hotspot_id']} 整改期限 {local_text(case['deadline'])} "
            f"承办人 {who(case['assignee'])} 派遣人 {who(case['dispatcher'])}"
        )
    return (
        f"{case['hotspot_id']} deadline {local_text(case['deadline'])} "
        f"assignee {who(case['assignee'])} dispatched by {who(case['dispatcher'])}"
    )


def _assignees(cases: list[dict[str, Any]], spells: list[OverdueCase]) -> list[dict[str, Any]]:
    """Each assignee of the lapse's cases, with the hours their cases were overdue inside the
    lapse (spells of several cases merged, so no hour counts twice) and the case ids."""
    out: dict[str, dict[str, Any]] = {}
    for case, spell in zip(cases, spells, strict=True):
        person = case["assignee"]
        if person is None:
            continue
        entry = out.setdefault(person["username"], person | {"spans": [], "case_ids": []})
        entry["spans"].append((spell.start, spell.end))
        if case["hotspot_id"] not in entry["case_ids"]:
            entry["case_ids"].append(case["hotspot_id"])
    for entry in out.values():
        entry["spans"] = merge(entry["spans"])
        entry["overlap_hours"] = round(sum(_hours(a, b) for a, b in entry["spans"]), 2)
    return list(out.values())


def _without_spans(people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in p.items() if k != "spans"} for p in people]


def accountability(
    session: Session,
    selection: Selection,
    start: datetime,
    end: datetime,
    lang: str,
    *,
    min_hours: float = 0,
) -> Table:
    places = Places(session)

    def rows() -> Iterator[Row]:
        lapses = iter_lapses(session, selection, start, end, BATCH, min_hours=min_hours)
        while batch := list(islice(lapses, BATCH)):
            people = _people_of(session, batch)
            for x in batch:
                yield _row(x, places, people, lang)

    return Table(
        "accountability",
        "网格失职记录（问责）",
        "Lapses",
        LAPSE_COLUMNS,
        rows,
        "cell",
        persons=PERSON_SHEET,
        summary=PersonSummary,
    )


def _row(x: Lapse, places: Places, people: dict[int, Any], lang: str) -> Row:
    district, street = places.of(x.cell_path)
    unit = f"{district} {street}".strip()
    on_duty: list[dict[str, Any]] = [
        {
            "duty": r.duty,
            "name": r.name,
            "phone": r.phone,
            "username": r.username,
            "start": r.start,
            "end": r.end,
            "overlap_hours": _hours(r.start, r.end),
        }
        for r in x.responsible
    ]
    cases = [_case_json(c, people) for c in x.cases]
    assignees = _assignees(cases, x.cases)
    lines = [
        person_text(p["duty"], p["name"], p["phone"], p["username"], lang)
        + f" {local_text(p['start'])}–{local_text(p['end'])}"
        for p in on_duty
    ] + [person_text("assignee", a["name"], a["phone"], a["username"], lang) for a in assignees]
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
        "responsible": "\n".join(lines) or ("无人在岗" if lang == "zh" else "nobody on duty"),
        "cases": "\n".join(_case_text(c, lang) for c in cases),
        "vacant": "、".join(duty_label(d, lang) for d in x.vacant),
    }
    nested = values | {
        "lapse": x.lapse,
        "lapse_label": label,
        "last_patrol_at": x.last_patrol_at,
        "hotspots": [str(h) for h in x.hotspots],
        "responsible": on_duty,
        "cases": cases,
        "assignees": _without_spans(assignees),
        "vacant": x.vacant,
    }
    shared = {
        "unit": unit,
        "cell_code": x.cell_code,
        "cell_name": x.cell_name,
        "lapse": label,
        "start": x.start,
        "end": x.end,
        "lapse_key": (x.cell_id, x.lapse, x.start),  # for the summary, not a column
    }
    persons = [
        shared
        | {
            "duty": duty_label(p["duty"], lang),
            "name": p["name"],
            "username": p["username"],
            "phone": p["phone"],
            "overlap_hours": p["overlap_hours"],
            "spans": [(p["start"], p["end"])],
        }
        for p in on_duty
    ] + [
        shared
        | {
            "duty": duty_label("assignee", lang),
            "name": a["name"],
            "username": a["username"],
            "phone": a["phone"],
            "overlap_hours": a["overlap_hours"],
            "spans": a["spans"],
            "case_ids": a["case_ids"],
        }
        for a in assignees
    ]
    return Row(values, nested, cell_id=x.cell_id, persons=persons)
