"""The demo city's activity: a pollution-source ledger along the Wei River, ninety days of
patrols by communities of different diligence, and cases over the same days at every step of
the case loop (cases.py)."""

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
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app import clock
from app.demo.cases import seed_case_history
from app.demo.city import CITY_CODE, DILIGENCE, TRENDS, WEI_RIVER, diligence
from app.demo.people import days_ago
from app.domain.grid.cells import get_cell, leaf_cell_at
from app.domain.grid.crs import from_wgs84, to_wgs84, transform
from app.domain.hotspots.cases import Actor, HotspotData, Step, apply_step
from app.domain.hotspots.opening import create_hotspot
from app.domain.hotspots.sources import INSPECTION_HOURS
from app.domain.people.scope import Viewer, holds_duty
from app.domain.progress import Progress
from app.domain.reports.intake import ReportData, file_report
from app.domain.status import rebuild_summaries, refresh_hotspot_counts
from app.domain.timeparse import local_zone
from app.models import Duty, Person, Source
from app.sql import partitions

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
# Every member duty of every unit cell, oldest first: a patrol is filed by whoever held it then.
_MEMBER_DUTIES = text("""
    SELECT c.id, c.code, c.patrol_interval_hours AS hours, d.person_id, d.valid_from, d.valid_to,
           ST_X(ST_PointOnSurface(c.geom)) AS lon, ST_Y(ST_PointOnSurface(c.geom)) AS lat
      FROM cells c
      JOIN duties d ON d.cell_id = c.id AND d.duty = 'member'
     WHERE c.is_leaf
     ORDER BY c.code, d.valid_from
""")
# The last complete month and the one before it, whatever the day of the month (at most 92 days),
# patrolled from their first hour: last month's ranking compares with a whole month.
HISTORY_DAYS = 95
_INSERT_PATROLS = text("""
    WITH p AS MATERIALIZED (
        SELECT * FROM unnest(CAST(:id AS uuid[]), CAST(:reporter AS bigint[]),
                             CAST(:cell AS bigint[]), CAST(:lon AS float8[]),
                             CAST(:lat AS float8[]), CAST(:accuracy AS float8[]),
                             CAST(:observed AS timestamptz[]))
                      AS p(id, reporter, cell, lon, lat, accuracy, observed)
    ), keys AS (  -- every report's id is claimed first (migration 0013)
        INSERT INTO report_keys (id, observed_at) SELECT id, observed FROM p
    )
    INSERT INTO reports (id, reporter_id, cell_id, geom, lat, lon, accuracy_m, observed_at,
                         received_at, kind, flags, counted, body_hash, origin)
    SELECT id, reporter, cell, ST_SetSRID(ST_MakePoint(lon, lat), 4326), lat, lon, accuracy,
           observed, observed + interval '2 minutes', 'patrol', '{}', true, 'demo', 'import'
      FROM p
""")
_INSERT_VISITS = text("""
    INSERT INTO cell_visits (cell_id, person_id, observed_at, geom, report_id)
    SELECT cell_id, reporter_id, observed_at, geom, id
      FROM reports WHERE body_hash = 'demo' AND origin = 'import' AND kind = 'patrol'
""")


def seed_activity(session: Session, progress: Progress) -> tuple[int, int]:
    """Ninety days of patrols up to now, filed by whoever was the cell's member then: most
    communities on time, some often lapsing, some getting better or worse; some cells gone
    stale lately, some never patrolled; then cases over the same ninety days in every state
    (cases.py) and a few of today's at every step. Clean synthetic patrols are bulk-loaded;
    the flagged, the cases and today's go through the domain rules like real ones."""
    rng = np.random.default_rng(2026)
    now = clock.now().replace(microsecond=0)
    members = session.execute(_MEMBERS).all()
    patrols = _patrols(session, rng, now)
    partitions.ensure(session.connection(), since=min(patrols["observed"], default=now))
    progress.start("writing demo patrols", len(patrols["id"]))
    # One statement per chunk (the summary triggers run per statement), the counted-patrol
    # history then in one statement from what was written.
    for i in range(0, len(patrols["id"]), 25_000):
        session.execute(_INSERT_PATROLS, {k: v[i : i + 25_000] for k, v in patrols.items()})
        progress.advance(len(patrols["id"][i : i + 25_000]))
    session.execute(_INSERT_VISITS)
    rebuild_summaries(session)  # the patrols went in bulk, past app/domain/status.py
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
    history = seed_case_history(session, members, now, rng, progress)
    return len(patrols["id"]) + flagged + history.reports, _hotspots(
        session, members, now
    ) + history.cases


def _patrols(session: Session, rng: np.random.Generator, now: datetime) -> dict[str, list[Any]]:
    """The bulk-loaded patrols of the last HISTORY_DAYS days, column by column."""
    begin = now - timedelta(days=HISTORY_DAYS)
    duties: dict[int, list[Any]] = {}
    for d in session.execute(_MEMBER_DUTIES):
        duties.setdefault(d.id, []).append(d)
    communities = {
        code: i for i, code in enumerate(sorted({d[0].code[:12] for d in duties.values()}))
    }
    columns: dict[str, list[Any]] = {
        k: [] for k in ("id", "reporter", "cell", "lon", "lat", "accuracy", "observed")
    }
    for i, (cell_id, held) in enumerate(duties.items()):
        if i % 13 == 5:
            continue  # never patrolled
        c = held[0]
        community = communities[c.code[:12]]
        low, high = DILIGENCE[diligence(community)]
        slope = TRENDS[community % len(TRENDS)]
        poor = diligence(community) == "poor"
        end = now - timedelta(days=6) if i % 7 == 3 else now  # gone stale lately
        t = begin + timedelta(hours=float(rng.uniform(0, 24)))
        while t < end:
            reporter = next(
                (
                    d.person_id
                    for d in held
                    if (d.valid_from is None or d.valid_from <= t)
                    and (d.valid_to is None or d.valid_to > t)
                ),
                None,
            )
            if reporter is not None:
                report_id = uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i)
                for key, value in (
                    ("id", report_id),
                    ("reporter", reporter),
                    ("cell", cell_id),
                    ("lon", c.lon),
                    ("lat", c.lat),
                    ("accuracy", float(rng.uniform(3, 30))),
                    ("observed", t),
                ):
                    columns[key].append(value)
            progress_share = (t - begin) / (now - begin)
            factor = float(rng.uniform(low, high)) * (1 + slope * (progress_share - 0.5))
            if poor and rng.random() < 0.06:
                factor += float(rng.uniform(2, 5))  # a cell left unvisited for a while
            t += timedelta(hours=max(factor, 0.2) * c.hours)
    return columns


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
                    # hours ago, not now: a demo patrol filed next from another cell must
                    # not look like a jump at impossible speed
                    observed_at=now - timedelta(hours=6),
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
        if overdue:  # its deadline has passed: the whole case happened five days earlier,
            # found, accepted and dispatched then with three days to fix it (a deadline moved
            # alone would fall before the case was found)
            back = timedelta(days=5)
            session.execute(
                text(
                    "UPDATE hotspot_events SET at = at - :back, deadline = deadline - :back "
                    "WHERE hotspot_id = :h"
                ),
                {"back": back, "h": hotspot.id},
            )
            for column in ("found_at", "created_at", "updated_at", "deadline"):
                setattr(hotspot, column, getattr(hotspot, column) - back)
            session.flush()
            refresh_hotspot_counts(session, hotspot.cell_id)
        count += 1
    return count
