"""`gridwatch seed-demo`: the demo city — Xinxiang's four urban districts (real boundaries,
GCJ-02 converted to WGS-84), synthetic streets and communities, ~500 m unit cells coded per
GB/T 30428.1, a roster with history (a few cells deliberately unstaffed), a pollution-source
ledger along the Wei River, and one login per role. Repeatable: a second run keeps the grid
and refreshes the demo logins."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from geoalchemy2.shape import from_shape, to_shape
from pyproj import CRS
from shapely.geometry import LineString, MultiPolygon, Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from app import clock
from app.config import PROJECT_ROOT
from app.domain import audit
from app.domain.grid.cells import NewCell, existing_cells, get_cell, leaf_cell_at, write_cells
from app.domain.grid.crs import from_wgs84, parse_crs, to_wgs84, transform
from app.domain.grid.generate import lattice_cells, metric_crs_for
from app.domain.grid.geometry import polygonal_part
from app.domain.hotspots.cases import Actor, HotspotData, Step, apply_step, create_hotspot
from app.domain.hotspots.sources import INSPECTION_HOURS
from app.domain.people.accounts import create_or_update_user
from app.domain.people.scope import Viewer, holds_duty
from app.domain.progress import NoProgress, Progress
from app.domain.reports.intake import ReportData, file_report
from app.domain.status import refresh_hotspot_counts
from app.domain.timeparse import local_zone
from app.models import CellVisit, Duty, Person, Report, Source

DISTRICTS_FILE = PROJECT_ROOT / "geodata" / "xinxiang-urban-districts.gcj02.geojson"
CITY_CODE, CITY_NAME = "410700", "新乡市"
UNIT_SIZE_M = 500.0

STREETS = {
    "410702": [
        "西街街道",
        "东街街道",
        "渠东街道",
        "文化街街道",
        "向阳小区街道",
        "洪门镇",
        "小店镇",
        "关堤乡",
    ],
    "410703": [
        "中同街街道",
        "胜利路街道",
        "解放路街道",
        "健康路街道",
        "自由路街道",
        "铁西街道",
        "平原镇",
    ],
    "410704": ["宝西街道", "宝东街道", "耿黄镇", "大块镇", "潞王坟乡"],
    "410711": [
        "东干道街道",
        "花园街道",
        "卫北街道",
        "荣校路街道",
        "北干道街道",
        "新辉路街道",
        "王村镇",
        "牧野乡",
    ],
}
# Schematic course of the Wei River (卫河) across the city, WGS-84 lon/lat. Approximate.
WEI_RIVER = [
    (113.760, 35.268),
    (113.800, 35.276),
    (113.840, 35.286),
    (113.880, 35.298),
    (113.915, 35.310),
    (113.950, 35.317),
    (113.990, 35.328),
    (114.030, 35.345),
    (114.070, 35.362),
]
SOURCES = [  # (type, name, fraction along the river, offset metres to the north)
    ("outfall", "骆驼湾污水处理厂排口", 0.62, 80),
    ("outfall", "卫河左岸雨污混排口1号", 0.18, 60),
    ("outfall", "卫河右岸排口7号", 0.35, -70),
    ("outfall", "共产主义渠汇入口排口", 0.78, 90),
    ("construction_site", "卫河湿地公园二期工地", 0.45, 300),
    ("construction_site", "滨河路改造工地", 0.25, -250),
    ("scattered_polluter", "河堤村塑料颗粒加工点", 0.70, -400),
    ("scattered_polluter", "小作坊喷漆点", 0.10, 350),
    ("coal_boiler", "洗浴中心燃煤锅炉", 0.52, 420),
    ("voc_enterprise", "化工园区涂装企业", 0.88, -380),
    ("fuel_station", "滨河加油站", 0.30, 200),
    ("waste_dump", "河滩垃圾堆点", 0.57, -120),
    ("open_bbq", "夜市露天烧烤", 0.40, 380),
    ("muck_truck_site", "渣土车停放场", 0.93, 260),
    ("tailings_pond", "凤泉矿区尾矿库", 0.05, -450),
]
DEMO_USERS = [  # username, role, scope, name, password
    ("admin", "admin", None, "系统管理员", "demo-admin-2026"),
    ("supervisor", "supervisor", CITY_CODE, "市生态环境局督查员", "demo-supervisor-2026"),
    ("command", "command", "410702", "红旗区攻坚办", "demo-command-2026"),
    ("discipline", "discipline", None, "市纪委监委", "demo-discipline-2026"),
    ("leader", "leader", None, "网格长王建国", "demo-leader-2026"),
    ("inspector", "inspector", None, "网格员李芳", "demo-inspector-2026"),
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅志军海燕文博晓东"


@dataclass
class SeedSummary:
    created: bool
    cells: int = 0
    unit_cells: int = 0
    persons: int = 0
    duties: int = 0
    sources: int = 0
    reports: int = 0
    hotspots: int = 0
    logins: list[tuple[str, str, str, str | None]] = field(default_factory=list)

    def describe(self) -> str:
        head = (
            f"demo city seeded: {self.cells} cells ({self.unit_cells} unit cells), "
            f"{self.persons} persons, {self.duties} duties, {self.sources} sources, "
            f"{self.reports} reports, {self.hotspots} hotspots"
            if self.created
            else "demo city already present; demo logins refreshed"
        )
        rows = [
            f"  {u:<11} password {p:<22} role {r}" + (f", scope {s}" if s else "")
            for u, p, r, s in self.logins
        ]
        return "\n".join([head, "demo logins:", *rows])


def _split(polygon: BaseGeometry, parts: int) -> list[MultiPolygon]:
    """Cut a WGS-84 polygon into about `parts` compact pieces (Voronoi around lattice seeds),
    ordered north-west to south-east. Computed in metres."""
    metric = metric_crs_for(polygon)
    local = transform(polygon, from_wgs84(metric))
    step = float(np.sqrt(local.area / parts))
    seeds: list[Point] = []
    while len(seeds) < parts and step > 10:
        minx, miny, maxx, maxy = local.bounds
        xs = np.arange(minx + step / 2, maxx, step)
        ys = np.arange(maxy - step / 2, miny, -step)
        seeds = [p for y in ys for x in xs if local.contains(p := Point(x, y))]
        step *= 0.9
    if len(seeds) < 2:
        return [polygonal_part(polygon)]
    if len(seeds) > parts:  # keep exactly `parts`, spread evenly over the lattice
        seeds = [seeds[int(i * len(seeds) / parts)] for i in range(parts)]
    envelope = shapely.box(*local.buffer(step * 2).bounds)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=envelope)
    back = to_wgs84(metric)
    pieces = []
    for seed in seeds:
        region = next(r for r in shapely.get_parts(cells) if r.covers(seed))
        piece = polygonal_part(polygon.intersection(transform(region, back)))
        if not piece.is_empty:
            pieces.append((-round(seed.y), round(seed.x), piece))
    pieces.sort(key=lambda p: (p[0], p[1]))
    return [p[2] for p in pieces]


def _name(i: int) -> str:
    return (
        SURNAMES[i % len(SURNAMES)]
        + GIVEN[(i * 7) % len(GIVEN)]
        + (GIVEN[(i * 13 + 5) % len(GIVEN)] if i % 3 else "")
    )


def _phone(i: int) -> str:
    return f"139{37300000 + i:08d}"


def _districts() -> list[tuple[str, str, MultiPolygon]]:
    data = json.loads(Path(DISTRICTS_FILE).read_text(encoding="utf-8"))
    convert = to_wgs84(parse_crs("gcj02"))
    out = []
    for f in data["features"]:
        geom = shapely.geometry.shape(f["geometry"])
        out.append(
            (
                str(f["properties"]["adcode"]),
                f["properties"]["name"],
                polygonal_part(shapely.make_valid(transform(geom, convert))),
            )
        )
    return sorted(out)


def build_grid() -> list[NewCell]:
    """The demo city's cells, parents first."""
    districts = _districts()
    utm = CRS.from_epsg(32649)
    river_zone = transform(
        transform(LineString(WEI_RIVER), from_wgs84(utm)).buffer(1000), to_wgs84(utm)
    )
    city = polygonal_part(shapely.union_all([d[2] for d in districts]))
    cells = [NewCell(CITY_CODE, CITY_NAME, 1, None, city)]
    for code, name, geom in districts:
        cells.append(NewCell(code, name, 2, CITY_CODE, geom))
        for s, street_geom in enumerate(_split(geom, len(STREETS[code])), start=1):
            street_name = STREETS[code][s - 1]
            street_code = f"{code}{s:03d}"
            cells.append(NewCell(street_code, street_name, 3, code, street_geom))
            base = street_name.removesuffix("街道").removesuffix("镇").removesuffix("乡")
            village = street_name.endswith(("镇", "乡"))
            km2 = transform(street_geom, from_wgs84(metric_crs_for(street_geom))).area / 1e6
            for c, comm_geom in enumerate(_split(street_geom, int(np.clip(km2 / 3, 2, 12))), 1):
                comm_code = f"{street_code}{c:03d}"
                comm_name = f"{base}第{c}{'村' if village else '社区'}"
                cells.append(NewCell(comm_code, comm_name, 4, street_code, comm_geom))
                for n, unit in enumerate(lattice_cells(comm_geom, UNIT_SIZE_M, "square"), 1):
                    risk = (
                        "high"
                        if unit.intersects(river_zone)
                        else "low"
                        if code == "410704"
                        else "medium"
                    )
                    cells.append(
                        NewCell(
                            f"{comm_code}{n:03d}",
                            f"{comm_name}{n:03d}网格",
                            5,
                            comm_code,
                            unit,
                            risk=risk,
                        )
                    )
    return cells


def seed(session: Session, progress: Progress | None = None) -> SeedSummary:
    progress = progress or NoProgress()
    summary = SeedSummary(created=not existing_cells(session, [CITY_CODE]))
    if summary.created:
        cells = build_grid()
        write_cells(session, cells, progress)
        summary.cells = len(cells)
        units = [c for c in cells if c.level == 5]
        summary.unit_cells = len(units)
        summary.persons, summary.duties = _roster(session, units, progress)
        summary.sources = _sources(session)
    for username, role, scope, name, password in DEMO_USERS:
        create_or_update_user(
            session,
            username=username,
            role=role,
            password=password,
            scope=scope,
            name=name,
            phone=_phone(90000 + len(username)),
        )
        summary.logins.append((username, password, role, scope))
    if summary.created:  # after the logins: demo hotspots are filed by the demo users
        summary.reports, summary.hotspots = _activity(session, progress)
        audit.record(
            session,
            "demo.seed",
            "cell",
            CITY_CODE,
            after={
                "cells": summary.cells,
                "persons": summary.persons,
                "duties": summary.duties,
                "sources": summary.sources,
                "reports": summary.reports,
                "hotspots": summary.hotspots,
            },
        )
    return summary


def _days_ago(tz: ZoneInfo, days: int) -> datetime:
    """Local midnight `days` days before today (app/clock.py)."""
    today = clock.now().astimezone(tz).date()
    return datetime.combine(today - timedelta(days=days), time(0), tzinfo=tz)


def _roster(session: Session, units: list[NewCell], progress: Progress) -> tuple[int, int]:
    """One member per unit cell, a leader per community, a patroller per street and a
    supervisor per district, with some history and a few deliberately unstaffed cells."""
    tz = local_zone()
    # Dates relative to today, so the demo city tells the same story whenever it is seeded:
    # the roster began eleven months ago, a handover three months ago, and some leaders
    # left six weeks ago without a successor.
    start, handover, lapsed = (_days_ago(tz, days) for days in (330, 90, 45))
    ids = {code: c.id for code, c in existing_cells(session, [u.code for u in units]).items()}
    people: dict[str, dict[str, object]] = {}

    def person(username: str, role: str = "inspector") -> str:
        if username not in people:
            i = len(people)
            people[username] = {
                "username": username,
                "name": _name(i),
                "phone": _phone(i),
                "role": role,
            }
        return username

    duties: list[tuple[str, str, str, datetime | None, datetime | None]] = []
    first_community = units[0].parent_code
    for i, u in enumerate(units):
        community, street, district = u.code[:12], u.code[:9], u.code[:6]
        if i % 97 == 50:
            continue  # never staffed: shows up as `unstaffed` with nobody to blame
        demo_cell = u.parent_code == first_community
        member = person("inspector" if demo_cell and i < 3 else f"gy{u.code}")
        if i % 23 == 11:  # a handover: the old member's duty ended at `handover`
            duties.append((u.code, "member", person(f"gy{u.code}x"), start, handover))
            duties.append((u.code, "member", member, handover, None))
        else:
            duties.append((u.code, "member", member, start, None))
        leader = person("leader" if demo_cell else f"wgz{community}", "leader")
        duties.append((u.code, "leader", leader, start, lapsed if i % 41 == 7 else None))
        duties.append((u.code, "patroller", person(f"xcy{street}"), start, None))
        duties.append((u.code, "supervisor", person(f"jdy{district}"), start, None))

    existing = {
        p.username: p.id
        for p in session.scalars(select(Person).where(Person.username.in_(list(people))))
    }
    new_people = [p for name, p in people.items() if name not in existing]
    if new_people:
        for pid, username in session.execute(
            insert(Person).returning(Person.id, Person.username), new_people
        ):
            existing[username] = pid
    progress.start("writing roster", len(duties))
    rows = [
        {
            "cell_id": ids[code],
            "person_id": existing[username],
            "duty": duty,
            "valid_from": vf,
            "valid_to": vt,
        }
        for code, duty, username, vf, vt in duties
    ]
    for i in range(0, len(rows), 5000):
        session.execute(insert(Duty), rows[i : i + 5000])
        progress.advance(len(rows[i : i + 5000]))
    return len(new_people), len(rows)


def _sources(session: Session) -> int:
    metric = CRS.from_epsg(32649)
    to_metric, back = from_wgs84(metric), to_wgs84(metric)
    city = transform(to_shape(get_cell(session, CITY_CODE).geom), to_metric)
    # The schematic river runs past the city edge: keep its longest stretch inside the city.
    inside = transform(LineString(WEI_RIVER), to_metric).intersection(city.buffer(-200))
    river = max(shapely.get_parts(inside), key=lambda part: part.length)
    tz = local_zone()
    count = 0
    for i, (kind, name, fraction, offset) in enumerate(SOURCES):
        on_river = river.interpolate(fraction, normalized=True)
        near = Point(on_river.x, on_river.y + offset)
        point = transform(near if city.contains(near) else on_river, back)
        assert isinstance(point, Point)
        found = leaf_cell_at(session, point.x, point.y, clock.now().astimezone(tz))
        surveyor = None
        if found is not None:
            surveyor = session.scalar(
                select(Duty.person_id)
                .where(Duty.cell_id == found[0], Duty.duty == "member")
                .order_by(Duty.valid_from)
            )
        session.add(
            Source(
                type=kind,
                name=name,
                geom=from_shape(point, srid=4326),
                lat=point.y,
                lon=point.x,
                cell_id=found[0] if found else None,
                surveyed_by_id=surveyor,
                surveyed_at=_days_ago(tz, 270 - i) + timedelta(hours=10),
                inspection_interval_hours=INSPECTION_HOURS[kind],
            )
        )
        count += 1
    session.flush()
    return count


_MEMBERS = text("""
    SELECT c.id, c.code, c.patrol_interval_hours AS hours, d.person_id,
           ST_X(ST_PointOnSurface(c.geom)) AS lon, ST_Y(ST_PointOnSurface(c.geom)) AS lat
      FROM cells c
      JOIN duties d ON d.cell_id = c.id AND d.duty = 'member' AND d.valid_to IS NULL
     WHERE c.is_leaf
     ORDER BY c.code
""")
_SUMMARISE = text("""
    INSERT INTO cell_status (cell_id, last_patrol_at, last_patrol_by_id)
    SELECT DISTINCT ON (cell_id) cell_id, observed_at, person_id
      FROM cell_visits ORDER BY cell_id, observed_at DESC
    ON CONFLICT (cell_id) DO UPDATE
       SET last_patrol_at = excluded.last_patrol_at,
           last_patrol_by_id = excluded.last_patrol_by_id
""")


def _activity(session: Session, progress: Progress) -> tuple[int, int]:
    """Two weeks of patrols: most cells patrolled on time (some at night or at weekends),
    some gone stale, some never patrolled; and hotspots in every state, a few overdue.
    Clean synthetic patrols are bulk-loaded; the flagged and the hotspots go through the
    domain rules like real ones."""
    rng = np.random.default_rng(2026)
    now = clock.now().replace(microsecond=0)
    members = session.execute(_MEMBERS).all()
    reports, visits = [], []
    for i, m in enumerate(members):
        if i % 13 == 5:
            continue  # never patrolled
        stale = i % 7 == 3
        t = now - timedelta(days=14) + timedelta(hours=float(rng.uniform(0, 24)))
        end = now - timedelta(days=6) if stale else now
        while t < end:
            report_id = uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i)
            row = {
                "id": report_id,
                "reporter_id": m.person_id,
                "cell_id": m.id,
                "geom": f"SRID=4326;POINT({m.lon} {m.lat})",
                "lat": m.lat,
                "lon": m.lon,
                "accuracy_m": float(rng.uniform(3, 30)),
                "observed_at": t,
                "received_at": t + timedelta(minutes=2),
                "kind": "patrol",
                "flags": [],
                "counted": True,
                "body_hash": "demo",
                "origin": "import",
            }
            reports.append(row)
            visits.append(
                {
                    "cell_id": m.id,
                    "person_id": m.person_id,
                    "observed_at": t,
                    "geom": row["geom"],
                    "report_id": report_id,
                }
            )
            t += timedelta(hours=float(rng.uniform(0.4, 1.1)) * m.hours)
    progress.start("writing demo patrols", len(reports))
    for i in range(0, len(reports), 5000):
        session.execute(insert(Report), reports[i : i + 5000])
        session.execute(insert(CellVisit), visits[i : i + 5000])
        progress.advance(len(reports[i : i + 5000]))
    session.execute(_SUMMARISE)
    inspector = session.scalar(select(Person).where(Person.username == "inspector"))
    flagged = 0
    if inspector is not None:  # a few reports for supervisors to review
        for k, accuracy in enumerate((350.0, 180.0, 120.0)):
            spot = members[k]
            file_report(
                session,
                person_id=inspector.id,
                received_at=now,
                data=ReportData(
                    id=uuid.UUID(int=k + 1),
                    lat=spot.lat,
                    lon=spot.lon,
                    accuracy_m=accuracy,
                    kind="issue",
                    category="dust",
                    observed_at=now - timedelta(hours=k + 1),
                    description="工地裸土未覆盖",
                ),
            )
            flagged += 1
    return len(reports) + flagged, _hotspots(session, members, now)


def _hotspots(session: Session, members: Sequence[Any], now: datetime) -> int:
    admin = session.scalar(select(Person).where(Person.username == "admin"))
    inspector = session.scalar(select(Person).where(Person.username == "inspector"))
    supervisor = session.scalar(select(Person).where(Person.username == "supervisor"))
    if admin is None or inspector is None or supervisor is None:
        return 0
    actor, checker = Viewer.of(admin), Viewer.of(supervisor)
    # Cases go to the member on duty in their cell (SPEC §7); the demo inspector's own cells
    # hold the grid's own case and one the inspector works on (the phone app shows it).
    own = [m for m in members if m.person_id == inspector.id] or list(members)

    def on_duty(candidates: Sequence[Any], start: int) -> Any:
        for i in range(len(candidates)):
            m = candidates[(start + i) % len(candidates)]
            if holds_duty(session, m.person_id, m.id, now):
                return m
        raise LookupError("the demo city has no member on duty")

    plans = [  # (source, category, description, steps to walk, overdue)
        ("inspection", "dust", "督察发现：工地裸土未苫盖", ["accepted", "dispatched"], True),
        (
            "complaint",
            "open_burning",
            "群众举报：夜间露天焚烧垃圾",
            ["accepted", "dispatched", "rectifying"],
            True,
        ),
        ("fire_point", "straw_burning", "卫星火点：秸秆焚烧", ["accepted", "dispatched"], False),
        ("monitoring", "black_smoke", "在线监测报警：锅炉冒黑烟", ["accepted"], False),
        ("patrol", "sewage", "巡查发现：雨水口污水直排", [], False),
        (
            "inspection",
            "river_litter",
            "回头看：河道垃圾",
            ["accepted", "dispatched", "rectifying", "rectified", "closed"],
            False,
        ),
        ("complaint", "odor", "群众举报：异味扰民", ["rejected"], False),
    ]
    count = 0
    for k, (source, category, description, steps, overdue) in enumerate(plans):
        mine = source == "patrol" or "rectifying" in steps[-1:]
        m = on_duty(own, k) if mine else on_duty(members, k * 211 + 40)
        member = session.get_one(Person, m.person_id).username
        report_id, creator = None, Actor("admin", actor)
        if source == "patrol":  # filed by the inspector, from their own `issue` report
            creator = Actor("inspector", Viewer.of(inspector))
            filed = file_report(
                session,
                person_id=inspector.id,
                received_at=now,
                data=ReportData(
                    id=uuid.UUID(int=1000 + k),
                    lat=m.lat,
                    lon=m.lon,
                    accuracy_m=8,
                    kind="issue",
                    category=category,
                    observed_at=now,
                    description=description,
                ),
            )
            report_id = filed.report.id
        hotspot, _ = create_hotspot(
            session,
            actor=creator,
            data=HotspotData(
                id=uuid.UUID(int=2000 + k),
                lat=m.lat,
                lon=m.lon,
                category=category,
                description=description,
                source=source,
                report_id=report_id,
                found_at=None if report_id else now - timedelta(days=k),
            ),
        )
        for to in steps:
            who = actor if to != "closed" else checker
            apply_step(
                session,
                viewer=who,
                hotspot_id=hotspot.id,
                step=Step(
                    to=to,
                    note="演示" if to in ("rectified", "rejected") else None,
                    assignee=member if to == "dispatched" else None,
                    deadline=now + timedelta(days=3) if to == "dispatched" else None,
                ),
            )
        if overdue:  # the deadline has passed: move it into the past, as time would have
            past = now - timedelta(days=2)
            hotspot.deadline = past
            session.execute(
                text(
                    "UPDATE hotspot_events SET deadline = :d WHERE hotspot_id = :h "
                    "AND deadline IS NOT NULL"
                ),
                {"d": past, "h": hotspot.id},
            )
            session.flush()
            refresh_hotspot_counts(session, hotspot.cell_id)
        count += 1
    return count
