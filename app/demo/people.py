"""The demo city's people: one login per role and a roster with history (members handing over
and communities changing their grid leader within the ninety days of patrols, leaders who left
without a successor, so a few cells are unstaffed)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from app import clock
from app.demo.city import CITY_CODE
from app.domain.grid.cells import NewCell, existing_cells
from app.domain.progress import Progress
from app.domain.timeparse import local_zone
from app.models import Person

DEMO_USERS = [  # username, role, scope, name, password
    ("admin", "admin", None, "系统管理员", "demo-admin-2026"),
    ("supervisor", "supervisor", CITY_CODE, "市生态环境局督查员", "demo-supervisor-2026"),
    ("command", "command", "410702", "红旗区攻坚办", "demo-command-2026"),
    ("discipline", "discipline", None, "市纪委监委", "demo-discipline-2026"),
    ("leader", "leader", None, "网格长王建国", "demo-leader-2026"),
    ("inspector", "inspector", None, "网格员李芳", "demo-inspector-2026"),
]
_INSERT_DUTIES = text("""
    INSERT INTO duties (cell_id, person_id, duty, valid_from, valid_to)
    SELECT * FROM unnest(CAST(:cell AS bigint[]), CAST(:person AS bigint[]),
                         CAST(:duty AS text[]), CAST(:vf AS timestamptz[]),
                         CAST(:vt AS timestamptz[]))
""")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅志军海燕文博晓东"


def person_name(i: int) -> str:
    return (
        SURNAMES[i % len(SURNAMES)]
        + GIVEN[(i * 7) % len(GIVEN)]
        + (GIVEN[(i * 13 + 5) % len(GIVEN)] if i % 3 else "")
    )


def phone_number(i: int) -> str:
    return f"139{37300000 + i:08d}"


def days_ago(tz: ZoneInfo, days: int) -> datetime:
    """Local midnight `days` days before today (app/clock.py)."""
    today = clock.now().astimezone(tz).date()
    return datetime.combine(today - timedelta(days=days), time(0), tzinfo=tz)


def seed_roster(session: Session, units: list[NewCell], progress: Progress) -> tuple[int, int]:
    """One member per unit cell, a leader per community, a patroller per street and a
    supervisor per district, with some history and a few deliberately unstaffed cells."""
    tz = local_zone()
    # Dates relative to today, so the demo city tells the same story whenever it is seeded:
    # the roster began eleven months ago; within the ninety days of patrols some members
    # handed over forty days ago, some communities changed their grid leader 25 days ago, and
    # some leaders left six weeks ago without a successor.
    start, handover, rotation, lapsed = (days_ago(tz, days) for days in (330, 40, 25, 45))
    ids = {code: c.id for code, c in existing_cells(session, [u.code for u in units]).items()}
    people: dict[str, dict[str, object]] = {}

    def person(username: str, role: str = "inspector") -> str:
        if username not in people:
            i = len(people)
            people[username] = {
                "username": username,
                "name": person_name(i),
                "phone": phone_number(i),
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
        if not demo_cell and int(community[-3:]) % 5 == 2 and i % 41 != 7:  # a new leader
            duties.append((u.code, "leader", leader, start, rotation))
            successor = person(f"wgz{community}n", "leader")
            duties.append((u.code, "leader", successor, rotation, None))
        else:
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
        (ids[code], existing[username], duty, vf, vt) for code, duty, username, vf, vt in duties
    ]
    # One statement: the staffing trigger then runs once over every cell.
    session.execute(
        _INSERT_DUTIES,
        {k: [r[i] for r in rows] for i, k in enumerate(("cell", "person", "duty", "vf", "vt"))},
    )
    progress.advance(len(rows))
    return len(new_people), len(rows)
