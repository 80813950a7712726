"""The gap engine and lapse periods against a brute-force reference written here in plain
Python and shapely, over many random grids, rosters, patrols and hotspot histories —
including boundary instants (a patrol exactly one interval before T, roster changes at a lapse
start, deadlines) and points on shared edges."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import shapely
from shapely.geometry import MultiPolygon
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from app.domain.grid.cells import NewCell, get_cell
from app.domain.reports.intake import ReportData, file_report
from app.domain.status import refresh_hotspot_counts
from app.domain.supervision.gaps import Selection, find_gaps
from app.domain.supervision.lapses import find_lapses, iter_lapses
from app.models import Duty, Hotspot, HotspotEvent, Person
from tests.factories import X0, Y0, make_cells

T0 = datetime(2026, 6, 1, tzinfo=UTC)
WINDOW = timedelta(days=3)
SIZE = 0.01
RUNNING = ("dispatched", "rectifying")
CASES = 60


@dataclass
class World:
    cells: dict[str, tuple[int, int, shapely.Geometry]]  # code -> (id, interval_h, polygon)
    duties: list[tuple[str, str, str, datetime | None, datetime | None]]
    visits: list[tuple[str, datetime]]  # (cell code by the reference, time)
    events: dict[uuid.UUID, tuple[str, datetime, bool, datetime, list[tuple]]]


def at(rng: random.Random) -> datetime:
    return T0 + timedelta(minutes=15 * rng.randrange(int(WINDOW / timedelta(minutes=15))))


def build_grid(db: Session) -> dict[str, tuple[int, int, shapely.Geometry]]:
    cells = [
        NewCell(
            "P", "父", 1, None, MultiPolygon([shapely.box(X0, Y0, X0 + 3 * SIZE, Y0 + 3 * SIZE)])
        )
    ]
    for r in range(3):
        for c in range(3):
            box = shapely.box(
                X0 + c * SIZE, Y0 + r * SIZE, X0 + (c + 1) * SIZE, Y0 + (r + 1) * SIZE
            )
            cells.append(NewCell(f"P-{r}{c}", f"格{r}{c}", 2, "P", MultiPolygon([box])))
    make_cells(db, *cells)
    return {c.code: (get_cell(db, c.code).id, 0, c.geom) for c in cells[1:]}


def ref_cell(world: World, lon: float, lat: float) -> str | None:
    """SPEC §2: covered by the polygon; on a shared edge, the smallest code."""
    point = shapely.Point(lon, lat)
    hits = sorted(code for code, (_, _, poly) in world.cells.items() if poly.covers(point))
    return hits[0] if hits else None


def random_world(
    db: Session, rng: random.Random, grid: dict[str, tuple[int, int, shapely.Geometry]]
) -> World:
    intervals = {code: rng.choice([1, 2, 3, 6, 24]) for code in grid}
    for code, hours in intervals.items():
        db.execute(
            text("UPDATE cells SET patrol_interval_hours = :h WHERE code = :c"),
            {"h": hours, "c": code},
        )
    world = World({c: (i, intervals[c], g) for c, (i, _, g) in grid.items()}, [], [], {})
    people = [
        Person(username=f"p{i}", name=f"人{i}", phone=f"1390000{i:04d}", role="inspector")
        for i in range(6)
    ]
    walker = Person(username="walker", name="巡查", phone=None, role="inspector")
    db.add_all([*people, walker])
    db.flush()
    duty_rows = []
    for code, (cell_id, _, _) in world.cells.items():
        # The walker files the patrols; a 监督员 duty does not make a cell staffed.
        duty_rows.append({"cell_id": cell_id, "person_id": walker.id, "duty": "supervisor"})
        for _ in range(rng.randrange(0, 4)):
            person = rng.choice(people)
            duty = rng.choice(["leader", "member", "patroller", "leader", "supervisor"])
            vf = rng.choice([None, at(rng)])
            vt = rng.choice([None, at(rng)])
            if vf and vt and vt <= vf:
                vf, vt = vt, vf
            if vf == vt and vf is not None:
                vt = None
            if any(
                r["cell_id"] == cell_id
                and r["person_id"] == person.id
                and r["duty"] == duty
                and r.get("valid_from") == vf
                for r in duty_rows
            ):
                continue  # one duty row per (cell, person, duty, valid_from)
            duty_rows.append(
                {
                    "cell_id": cell_id,
                    "person_id": person.id,
                    "duty": duty,
                    "valid_from": vf,
                    "valid_to": vt,
                }
            )
            world.duties.append((code, person.username, duty, vf, vt))
    db.execute(insert(Duty), [{"valid_from": None, "valid_to": None, **d} for d in duty_rows])

    # Patrols ≥ 15 min apart (never "impossibly fast"); some exactly on shared edges/corners.
    times = sorted(rng.sample(range(int(WINDOW / timedelta(minutes=15))), rng.randrange(0, 25)))
    for slot in times:
        observed = T0 + timedelta(minutes=15 * slot)
        if rng.random() < 0.3:
            lon = X0 + SIZE * rng.randrange(0, 4)
            lat = (
                Y0 + SIZE * rng.uniform(0, 3)
                if rng.random() < 0.5
                else Y0 + SIZE * rng.randrange(0, 4)
            )
        else:
            lon, lat = X0 + rng.uniform(-0.002, 3 * SIZE), Y0 + rng.uniform(0, 3 * SIZE)
        filed = file_report(
            db,
            person_id=walker.id,
            received_at=observed + timedelta(minutes=1),
            data=ReportData(
                id=uuid.uuid4(), lat=lat, lon=lon, accuracy_m=5, observed_at=observed, kind="patrol"
            ),
        )
        code = ref_cell(world, lon, lat)
        assert filed.cell_code == code  # the engine's cell resolution agrees
        if filed.report.counted:
            world.visits.append((code, observed))  # type: ignore[arg-type]

    for _ in range(rng.randrange(0, 5)):
        code = rng.choice(list(world.cells))
        created = at(rng)
        hid = uuid.uuid4()
        steps = [("reported", created, None)]
        status, now = "reported", created
        for _ in range(rng.randrange(0, 7)):
            now += timedelta(minutes=15 * rng.randrange(1, 40))
            options = {
                "reported": ["accepted", "rejected"],
                "accepted": ["dispatched"],
                "dispatched": ["rectifying", "extend"],
                "rectifying": ["rectified", "extend"],
                "rectified": ["closed", "rectifying"],
                "closed": ["reopened"],
                "reopened": ["dispatched"],
                "rejected": [],
            }[status]
            if not options:
                break
            move = rng.choice(options)
            deadline = (
                now + timedelta(minutes=15 * rng.randrange(1, 60))
                if move in ("dispatched", "extend")
                else None
            )
            steps.append((status if move == "extend" else move, now, deadline))
            status = status if move == "extend" else move
        missed = rng.random() < 0.3
        world.events[hid] = (
            code,
            created,
            missed,
            created - timedelta(hours=rng.randrange(0, 48)),
            steps,
        )
        current_deadline = None
        for _, _, d in steps:
            current_deadline = d or current_deadline
        cell_id = world.cells[code][0]
        db.add(
            Hotspot(
                id=hid,
                cell_id=cell_id,
                geom=f"SRID=4326;POINT({X0} {Y0})",
                lat=Y0,
                lon=X0,
                category="dust",
                description="随机",
                source="inspection",
                found_at=world.events[hid][3],
                status=status,
                deadline=current_deadline if status != "reopened" else None,
                missed_by_grid=missed,
                body_hash="x",
                created_at=created,
                updated_at=steps[-1][1],
            )
        )
        db.flush()
        for i, (to, when, deadline) in enumerate(steps):
            db.add(
                HotspotEvent(
                    hotspot_id=hid,
                    at=when,
                    actor_label="test",
                    action="create" if i == 0 else "transition",
                    from_status=None,
                    to_status=to,
                    deadline=deadline,
                )
            )
        db.flush()
        refresh_hotspot_counts(db, cell_id)
    db.commit()
    return world


# --- the reference ----------------------------------------------------------------------


def active(vf: datetime | None, vt: datetime | None, t: datetime) -> bool:
    return (vf is None or vf <= t) and (vt is None or vt > t)


def hotspot_state(steps: list[tuple], t: datetime) -> tuple[str | None, datetime | None]:
    status, deadline = None, None
    for to, when, d in steps:
        if when <= t:
            status = to
            deadline = d or deadline
    return status, deadline


def ref_reasons(world: World, code: str, t: datetime) -> list[str]:
    _, hours, _ = world.cells[code]
    seen = [v for c, v in world.visits if c == code and v <= t]
    reasons = []
    if not seen:
        reasons.append("never_patrolled")
    elif not any(t - timedelta(hours=hours) < v for v in seen):
        reasons.append("unpatrolled")
    open_, overdue = 0, 0
    for c, created, _, _, steps in world.events.values():
        if c != code or created > t:
            continue
        status, deadline = hotspot_state(steps, t)
        open_ += status not in ("closed", "rejected")
        overdue += status in RUNNING and deadline is not None and deadline < t
    if open_:
        reasons.append("open_hotspot")
    if overdue:
        reasons.append("overdue_hotspot")
    duties = {d for c, _, d, vf, vt in world.duties if c == code and active(vf, vt, t)}
    if not ("leader" in duties and duties & {"member", "patroller"}):
        reasons.append("unstaffed")
    if any(
        c == code
        and missed
        and created <= t
        and t - timedelta(days=30) < found <= t
        and not any(to == "rejected" and when <= t for to, when, _ in steps)
        for c, created, missed, found, steps in world.events.values()
    ):
        reasons.append("missed_problem")
    return reasons


def ref_lapses(world: World, code: str, lo: datetime, hi: datetime) -> set[tuple]:
    """Brute force: the state is constant strictly between breakpoints; test each piece's
    middle (its ends may belong to either side: "deadline < t" is open, "(t − h, t]" closed)."""
    _, hours, _ = world.cells[code]
    span = timedelta(hours=hours)
    visits = [v for c, v in world.visits if c == code]
    cuts = {lo, hi} | {x for v in visits for x in (v, v + span)}
    cuts |= {x for c, _, _, vf, vt in world.duties if c == code for x in (vf, vt) if x}
    for c, _, _, _, steps in world.events.values():
        if c == code:
            cuts |= {x for _, when, d in steps for x in (when, d) if x}
    points = sorted(x for x in cuts if lo <= x <= hi)
    out = set()
    for kind, test in (
        ("unpatrolled", lambda t: not any(t - span < v <= t for v in visits)),
        (
            "unstaffed",
            lambda t: (
                not (lambda d: "leader" in d and d & {"member", "patroller"})(
                    {d for c, _, d, vf, vt in world.duties if c == code and active(vf, vt, t)}
                )
            ),
        ),
        (
            "overdue_hotspot",
            lambda t: any(
                c == code
                and (lambda s: s[0] in RUNNING and s[1] is not None and s[1] < t)(
                    hotspot_state(steps, t)
                )
                for c, _, _, _, steps in world.events.values()
            ),
        ),
    ):
        start = None
        for a, b in zip(points, points[1:], strict=False):
            if test(a + (b - a) / 2):
                start = a if start is None else start
            elif start is not None:
                out.add((code, kind, start, a))
                start = None
        if start is not None:
            out.add((code, kind, start, hi))
    return out


def test_engine_matches_brute_force_on_random_worlds(db: Session) -> None:
    grid = build_grid(db)
    compared = 0
    for seed in range(CASES):
        rng = random.Random(seed)
        world = random_world(db, rng, grid)
        visit_edges = [v + timedelta(hours=world.cells[c][1]) for c, v in world.visits]
        duty_edges = [x for *_, vf, vt in world.duties for x in (vf, vt) if x]
        deadlines = [d for *_, steps in world.events.values() for _, _, d in steps if d]
        instants = [at(rng) for _ in range(3)] + rng.sample(visit_edges, min(2, len(visit_edges)))
        instants += rng.sample(duty_edges, min(2, len(duty_edges)))
        instants += rng.sample(deadlines, min(1, len(deadlines)))
        for t in instants:
            got = {c.code: c.reasons for c in find_gaps(db, Selection(None, None), t).cells}
            for code in world.cells:
                assert got.get(code, []) == ref_reasons(world, code, t), (seed, code, t)
            compared += 1
        lo, hi = T0 + timedelta(hours=rng.randrange(0, 24)), T0 + WINDOW
        lapses = find_lapses(db, Selection(None, None), lo, hi)
        got_lapses = {(x.cell_code, x.lapse, x.start, x.end) for x in lapses}
        expected = set().union(*(ref_lapses(world, code, lo, hi) for code in world.cells))
        assert got_lapses == expected, seed
        # Exports stream lapses a few cells at a time: the chunks must add up to the same.
        chunked = iter_lapses(db, Selection(None, None), lo, hi, chunk_cells=rng.randint(1, 3))
        assert [(x.cell_code, x.lapse, x.start, x.end, x.responsible) for x in chunked] == [
            (x.cell_code, x.lapse, x.start, x.end, x.responsible) for x in lapses
        ], seed
        for x in lapses:
            expected_people = {
                (u, d, max(x.start, vf or x.start), min(x.end, vt or x.end))
                for c, u, d, vf, vt in world.duties
                if c == x.cell_code and (vf is None or vf < x.end) and (vt is None or vt > x.start)
            }
            walker = {
                (r.username, r.duty, r.start, r.end)
                for r in x.responsible
                if r.username == "walker"
            }
            got_people = {(r.username, r.duty, r.start, r.end) for r in x.responsible} - walker
            assert got_people == expected_people, (seed, x)
        db.execute(
            text(
                "TRUNCATE reports, cell_visits, cell_status, hotspot_events, hotspots, "
                "duties, persons RESTART IDENTITY CASCADE"
            )
        )
        db.commit()
    assert compared >= 300
