"""Ninety days of cases in the demo city: complaints, inspections, fire points, monitoring
alarms and the grid's own issue reports, walked through the case loop by the domain rules
(app/domain/hotspots) — closed on time, closed late, reworked, extended, relapsed, rejected,
still overdue — then moved back to when they happened. Poor communities get the late ones."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.demo.city import diligence
from app.domain.hotspots.cases import Actor, HotspotData, Step, apply_step
from app.domain.hotspots.opening import create_hotspot
from app.domain.people.scope import Viewer, holds_duty
from app.domain.progress import Progress
from app.domain.reports.intake import ReportData, file_report
from app.domain.status import rebuild_summaries
from app.models import HotspotEvent, Person

CASES = 90
# A script: the steps of one case, each (to, hours after the step before, hours of the
# deadline it sets or extends by).
SCRIPTS: dict[str, list[tuple[str, float, float]]] = {
    "on_time": [
        ("accepted", 2, 0),
        ("dispatched", 3, 120),
        ("rectifying", 20, 0),
        ("rectified", 50, 0),
        ("closed", 22, 0),
    ],
    "late": [
        ("accepted", 3, 0),
        ("dispatched", 4, 72),
        ("rectifying", 30, 0),
        ("rectified", 110, 0),
        ("closed", 26, 0),
    ],
    "reworked": [
        ("accepted", 2, 0),
        ("dispatched", 3, 120),
        ("rectifying", 20, 0),
        ("rectified", 40, 0),
        ("rectifying", 12, 0),
        ("rectified", 30, 0),
        ("closed", 20, 0),
    ],
    "extended": [
        ("accepted", 2, 0),
        ("dispatched", 3, 72),
        ("rectifying", 20, 0),
        ("extend", 30, 96),
        ("rectified", 70, 0),
        ("closed", 24, 0),
    ],
    "relapsed": [
        ("accepted", 2, 0),
        ("dispatched", 3, 96),
        ("rectifying", 20, 0),
        ("rectified", 40, 0),
        ("closed", 20, 0),
        ("reopened", 300, 0),
        ("dispatched", 4, 120),
    ],
    "overdue": [("accepted", 4, 0), ("dispatched", 5, 72)],
    "rejected": [("rejected", 6, 0)],
}
BY_DILIGENCE = {
    "good": ("on_time", "on_time", "reworked", "on_time", "extended", "rejected"),
    "fair": ("on_time", "late", "extended", "reworked", "relapsed", "on_time"),
    "poor": ("late", "overdue", "relapsed", "late", "overdue", "reworked"),
}
SOURCES = (  # source, category, description
    ("complaint", "open_burning", "群众举报：小区旁露天焚烧垃圾"),
    ("inspection", "dust", "督察发现：工地裸土未苫盖"),
    ("patrol", "sewage", "巡查发现：雨水口污水直排"),
    ("fire_point", "straw_burning", "卫星火点：田间秸秆焚烧"),
    ("complaint", "odor", "群众举报：夜间异味扰民"),
    ("monitoring", "black_smoke", "在线监测报警：锅炉冒黑烟"),
    ("patrol", "river_litter", "巡查发现：河道漂浮垃圾"),
    ("complaint", "noise", "群众举报：夜间施工噪声"),
)


@dataclass
class History:
    cases: int
    reports: int


def seed_case_history(
    session: Session,
    members: Sequence[Any],
    now: datetime,
    rng: np.random.Generator,
    progress: Progress,
) -> History:
    admin = session.scalar(select(Person).where(Person.username == "admin"))
    supervisor = session.scalar(select(Person).where(Person.username == "supervisor"))
    if admin is None or supervisor is None or not members:
        return History(0, 0)
    actor, checker = Viewer.of(admin), Viewer.of(supervisor)
    # The demo inspector's and leader's community keeps only today's cases (activity.py): the
    # phone app and the desk open on those.
    inspector = session.scalar(select(Person.id).where(Person.username == "inspector"))
    theirs = {m.code[:12] for m in members if m.person_id == inspector}
    members = [m for m in members if m.code[:12] not in theirs]
    communities = {code: i for i, code in enumerate(sorted({m.code[:12] for m in members}))}
    times: list[tuple[list[int], list[tuple[datetime, datetime | None]]]] = []
    touched: set[int] = set()
    reports = 0
    progress.start("walking demo cases", CASES)
    for k in range(CASES):
        m = members[(k * 389 + 17) % len(members)]
        kind = diligence(communities[m.code[:12]])
        script = SCRIPTS[BY_DILIGENCE[kind][k % 6]]
        source, category, description = SOURCES[k % len(SOURCES)]
        found = now - timedelta(days=HISTORY_START - k, hours=float(rng.uniform(0, 12)))
        if script is SCRIPTS["rejected"]:
            source = "complaint"
        elif source == "patrol" and not (
            holds_duty(session, m.person_id, m.id, found) and holds_duty(session, m.person_id, m.id)
        ):
            source = "inspection"  # the grid's own case needs a member on duty then and now
        hotspot_id = _open(session, m, k, source, category, description, found, actor)
        reports += source == "patrol"
        member = session.get_one(Person, m.person_id).username
        plan = _fits(script, found, now)
        for to, _, _ in plan:
            apply_step(
                session,
                viewer=checker if to == "closed" else actor,
                hotspot_id=hotspot_id,
                step=Step(
                    to=to,
                    note="演示"
                    if to in ("rectified", "rejected", "reopened", "rectifying")
                    else None,
                    reason="relapse" if to == "reopened" else None,
                    assignee=member if to == "dispatched" else None,
                    # any later deadline will do: the real one is set with the times below
                    deadline=now + timedelta(days=60 if to == "extend" else 30)
                    if to in ("dispatched", "extend")
                    else None,
                ),
            )
        events = list(
            session.scalars(
                select(HotspotEvent.id)
                .where(HotspotEvent.hotspot_id == hotspot_id)
                .order_by(HotspotEvent.id)
            )
        )
        times.append((events, _timeline(plan, found)))
        touched.add(m.id)
        progress.advance(1)
    _move_back(session, times)
    rebuild_summaries(session, sorted(touched))  # deadlines moved: overdue counts follow
    return History(CASES, reports)


HISTORY_START = 89  # days before now the first case was found


def _open(
    session: Session,
    m: Any,
    k: int,
    source: str,
    category: str,
    description: str,
    found: datetime,
    actor: Viewer,
) -> uuid.UUID:
    if source == "patrol":  # the member's own issue report opens the case (from_reports.py)
        filed = file_report(
            session,
            person_id=m.person_id,
            received_at=found + timedelta(minutes=3),
            data=ReportData(
                id=uuid.UUID(int=5000 + k),
                lat=m.lat,
                lon=m.lon,
                accuracy_m=6,
                kind="issue",
                category=category,
                observed_at=found,
                description=description,
            ),
        )
        member = session.get_one(Person, m.person_id)
        hotspot, _ = create_hotspot(
            session,
            actor=Actor(member.username, Viewer.of(member)),
            data=HotspotData(
                id=uuid.UUID(int=6000 + k),
                lat=m.lat,
                lon=m.lon,
                category=category,
                description=description,
                source=source,
                report_id=filed.report.id,
            ),
        )
        return hotspot.id
    hotspot, _ = create_hotspot(
        session,
        actor=Actor("admin", actor),
        data=HotspotData(
            id=uuid.UUID(int=6000 + k),
            lat=m.lat,
            lon=m.lon,
            category=category,
            description=description,
            source=source,
            found_at=found,
        ),
    )
    return hotspot.id


def _fits(
    script: list[tuple[str, float, float]], found: datetime, now: datetime
) -> list[tuple[str, float, float]]:
    """The steps of the script that have happened by an hour ago."""
    at, out = found + timedelta(minutes=30), []
    for step in script:
        at += timedelta(hours=step[1])
        if at > now - timedelta(hours=1):
            break
        out.append(step)
    return out


def _timeline(
    plan: list[tuple[str, float, float]], found: datetime
) -> list[tuple[datetime, datetime | None]]:
    """(when, deadline set) of the case's events: its opening, then each step."""
    at = found + timedelta(minutes=30)
    out: list[tuple[datetime, datetime | None]] = [(at, None)]
    deadline: datetime | None = None
    for to, hours, deadline_hours in plan:
        at += timedelta(hours=hours)
        if to == "dispatched":
            deadline = at + timedelta(hours=deadline_hours)
        elif to == "extend" and deadline is not None:
            deadline += timedelta(hours=deadline_hours)
        out.append((at, deadline if to in ("dispatched", "extend") else None))
    return out


_EVENT_TIMES = text("""
    UPDATE hotspot_events e SET at = v.at, deadline = v.deadline
      FROM unnest(CAST(:ids AS bigint[]), CAST(:ats AS timestamptz[]),
                  CAST(:deadlines AS timestamptz[])) AS v(id, at, deadline)
     WHERE e.id = v.id
""")
# The case's own times follow its events, as the steps would have set them then.
_CASE_TIMES = text("""
    UPDATE hotspots h
       SET created_at = x.first_at, updated_at = x.last_at,
           deadline = CASE WHEN h.deadline IS NULL THEN NULL ELSE x.deadline END,
           rectified_at = CASE WHEN h.rectified_at IS NULL THEN NULL ELSE x.rectified END,
           closed_at = CASE WHEN h.closed_at IS NULL THEN NULL ELSE x.closed END
      FROM (SELECT hotspot_id, min(at) AS first_at, max(at) AS last_at,
                   (array_agg(deadline ORDER BY at DESC) FILTER (WHERE deadline IS NOT NULL))[1]
                       AS deadline,
                   max(at) FILTER (WHERE to_status = 'rectified' AND action = 'transition')
                       AS rectified,
                   max(at) FILTER (WHERE to_status = 'closed' AND action = 'transition')
                       AS closed
              FROM hotspot_events WHERE id = ANY (CAST(:ids AS bigint[]))
             GROUP BY hotspot_id) x
     WHERE h.id = x.hotspot_id
""")


def _move_back(
    session: Session, cases: list[tuple[list[int], list[tuple[datetime, datetime | None]]]]
) -> None:
    ids, ats, deadlines = [], [], []
    for events, timeline in cases:
        for event_id, (at, deadline) in zip(events, timeline, strict=True):
            ids.append(event_id)
            ats.append(at)
            deadlines.append(deadline)
    session.execute(_EVENT_TIMES, {"ids": ids, "ats": ats, "deadlines": deadlines})
    session.execute(_CASE_TIMES, {"ids": ids})
