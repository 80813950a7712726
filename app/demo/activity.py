"""The demo city's activity: a pollution-source ledger along the Wei River, two weeks of patrols
and a few hotspots at every step of the case loop."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import from_shape, to_shape
from pyproj import CRS
from shapely.geometry import LineString, Point
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from app import clock
from app.demo.city import CITY_CODE, WEI_RIVER
from app.demo.people import days_ago
from app.domain.grid.cells import get_cell, leaf_cell_at
from app.domain.grid.crs import from_wgs84, to_wgs84, transform
from app.domain.hotspots.cases import Actor, HotspotData, Step, apply_step
from app.domain.hotspots.opening import create_hotspot
from app.domain.hotspots.sources import INSPECTION_HOURS
from app.domain.people.scope import Viewer, holds_duty
from app.domain.progress import Progress
from app.domain.reports.intake import ReportData, file_report
from app.domain.status import refresh_hotspot_counts
from app.domain.timeparse import local_zone
from app.models import CellVisit, Duty, Person, Report, Source

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


def seed_sources(session: Session) -> int:
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
                surveyed_at=days_ago(tz, 270 - i) + timedelta(hours=10),
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


def seed_activity(session: Session, progress: Progress) -> tuple[int, int]:
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
                    # An hour ago: the demo inspector's next report, wherever in their
                    # cells, is no impossible speed from this one.
                    observed_at=now - timedelta(hours=1),
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
