"""Monthly partitions of reports, cell_visits and audit_log (migration 0013,
app/sql/partitions.py): a fresh install is partitioned, a database with rows converts both ways
without losing one, an id stays one report across months, a row for a month without a
partition lands in an edge partition and moves when its month is made, the append-only guard
covers every month, and a month's query reads one partition."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import clock, rules
from app.config import get_settings
from app.domain.accountability import verify as audit_verify
from app.domain.grid.cells import get_cell
from app.domain.reports import queries
from app.domain.reports.queries import NewReport, ewkt, insert_reports
from app.domain.status import Visit, record_visits
from app.domain.supervision import indicators, lapses
from app.domain.supervision.gaps import Selection, find_gaps, gap_params
from app.migrate import alembic_config, current_revision, upgrade
from app.sql import load, partitions
from tests.cli.helpers import run_cli
from tests.factories import CENTRES, UNITS, Field, jpeg, report_body, staffed_field

# Only public's tables (relnamespace below): the demo city's snapshot schema
# (tests/demo_city.py), in the same database when a demo module ran before in this process,
# holds tables of the same names.


@pytest.fixture
def field(
    client: TestClient, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Field:
    monkeypatch.setattr(get_settings(), "photo_dir", tmp_path / "photos")
    return staffed_field(client, db)


def month_start(at: datetime, months: int = 0) -> datetime:
    """The first instant (UTC) of the month `months` after the one holding `at`."""
    index = at.year * 12 + at.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def suffix(at: datetime) -> str:
    return f"{at.year:04d}_{at.month:02d}"


def post(field: Field, body: dict[str, object]) -> dict[str, Any]:
    r = field.client.post("/api/v1/reports", json=body, headers=field.headers("insp"))
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def home(db: Session, table: str, column: str, value: object) -> list[str]:
    """The partitions holding the rows of `table` whose `column` is `value`."""
    return list(
        db.scalars(
            text(f"SELECT tableoid::regclass::text FROM {table} WHERE {column} = :v"),  # noqa: S608 (ours)
            {"v": value},
        )
    )


def run_of_months(db: Session, table: str) -> tuple[datetime, datetime]:
    """The first instants of the oldest and the newest month that have a partition."""
    names = db.scalars(
        text(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relname ~ ('^' || :t || '_[0-9]{4}_[0-9]{2}$')"
        ),
        {"t": table},
    ).all()
    months = sorted(datetime.strptime(n[-7:], "%Y_%m").replace(tzinfo=UTC) for n in names)
    return months[0], months[-1]


def test_a_fresh_install_is_partitioned_by_month(db: Session) -> None:
    kinds = dict(
        db.execute(
            text(
                "SELECT relname, relkind FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace AND relname = ANY(:t)"
            ),
            {"t": [*partitions.PARTITIONED, "report_keys"]},
        ).all()
    )
    assert kinds == {"reports": "p", "cell_visits": "p", "audit_log": "p", "report_keys": "r"}
    now = clock.now()
    listed = partitions.listing(db.connection())
    for table in partitions.PARTITIONED:
        names = {row["partition"] for row in listed[table]}
        due = {f"{table}_{suffix(month_start(now, k))}" for k in range(partitions.MONTHS_AHEAD)}
        edges = {f"{table}_before", f"{table}_after"}
        assert edges | due <= names
    # Nothing is due: `gridwatch migrate` made them all.
    assert partitions.ensure(db.connection()) == []


def test_an_id_is_one_report_across_months(field: Field) -> None:
    """The client's UUID is unique across every month: a re-send under another observed_at
    (another partition) is a different body, and an insert that raced past the lookup with
    it is left out, as ON CONFLICT (id) DO NOTHING did on the unpartitioned table."""
    db = field.db
    now = clock.now()
    body = report_body(observed_at=now.isoformat())
    post(field, body)
    earlier = (month_start(now, -1) + timedelta(days=3)).isoformat()
    again = field.client.post(
        "/api/v1/reports", json={**body, "observed_at": earlier}, headers=field.headers("insp")
    )
    assert again.status_code == 409, again.text
    assert len(home(db, "reports", "id", body["id"])) == 1

    stored = dict(
        db.execute(text("SELECT * FROM reports WHERE id = :id"), {"id": body["id"]}).one()._mapping
    )
    racer = NewReport(
        id=uuid.UUID(str(body["id"])),
        reporter_id=stored["reporter_id"],
        cell_id=stored["cell_id"],
        lat=stored["lat"],
        lon=stored["lon"],
        accuracy_m=None,
        observed_at=datetime.fromisoformat(earlier),
        received_at=now,
        kind="patrol",
        category=None,
        description=None,
        source_id=None,
        flags=[],
        counted=True,
        body_hash="another body",
        origin="api",
    )
    assert insert_reports(db, [racer], "api") == set()
    assert home(db, "reports", "id", body["id"]) == [f"reports_{suffix(now)}"]
    db.rollback()

    # Without the key claimed first, the database refuses the row itself.
    with pytest.raises(DBAPIError, match="fk_reports_id_report_keys"):
        db.execute(
            text(
                "INSERT INTO reports (id, reporter_id, geom, lat, lon, observed_at, received_at, "
                "kind, counted, body_hash) SELECT id, reporter_id, geom, lat, lon, :at, "
                "received_at, kind, counted, body_hash FROM reports WHERE id = :id"
            ),
            {"id": body["id"], "at": earlier},
        )
    db.rollback()


def test_a_back_dated_report_waits_in_the_edge_partition_until_its_month_is_made(
    field: Field,
) -> None:
    db = field.db
    first, _ = run_of_months(db, "reports")  # earlier tests in this database made some
    old = month_start(first, -40) + timedelta(days=9, hours=3)  # over three years before
    body = report_body(observed_at=old.isoformat())
    post(field, body)
    assert home(db, "reports", "id", body["id"]) == ["reports_before"]
    db.rollback()

    made = run_cli("db", "partitions")
    assert made.exit_code == 0, made.output
    month = suffix(old)
    assert f"reports_{month}" in made.output
    assert home(db, "reports", "id", body["id"]) == [f"reports_{month}"]
    assert db.scalar(text("SELECT count(*) FROM reports_before")) == 0
    r = field.client.get(f"/api/v1/reports/{body['id']}", headers=field.headers("insp"))
    assert r.status_code == 200 and r.json()["observed_at"].startswith(old.date().isoformat())
    db.rollback()
    again = run_cli("db", "partitions", "--list")
    assert again.exit_code == 0 and "no partition was due" in again.output
    assert f"reports_{month} FOR VALUES FROM" in again.output
    assert audit_verify.verify(db).ok


def test_the_edge_takes_over_a_detached_old_month(field: Field) -> None:
    """Retention (docs/operations.md): the oldest month detached and renamed, `gridwatch db
    partitions` extends the `_before` edge over it, and a row of that month arriving later
    lands there and gets its month made again."""
    db = field.db
    partitions.ensure(db.connection(), since=month_start(clock.now(), -6))
    db.commit()
    oldest = db.scalar(
        text(
            "SELECT min(relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            r"AND relname ~ '^reports_\d{4}_\d{2}$'"
        )
    )
    assert oldest is not None
    try:
        db.execute(text(f"ALTER TABLE reports DETACH PARTITION {oldest}"))
        db.execute(text(f"ALTER TABLE {oldest} RENAME TO archived_{oldest}"))
        db.commit()
        assert partitions.ensure(db.connection()) == []
        db.commit()
        start = datetime.strptime(oldest[-7:], "%Y_%m").replace(tzinfo=UTC)
        body = report_body(observed_at=(start + timedelta(days=2)).isoformat())
        post(field, body)
        assert home(db, "reports", "id", body["id"]) == ["reports_before"]
        db.rollback()
        assert partitions.ensure(db.connection()) == [oldest]
        db.commit()
        assert home(db, "reports", "id", body["id"]) == [oldest]
    finally:
        db.rollback()
        db.execute(text(f"DROP TABLE IF EXISTS archived_{oldest}"))
        db.commit()


def test_audit_entries_ahead_of_every_partition_wait_and_move_with_the_chain_whole(
    field: Field, time_machine: Any
) -> None:
    """The audit log's time is the server's: a clock past the months made ahead (a server
    nobody ran `gridwatch db partitions` on for months) files into the `_after` edge,
    and the chain verifies before and after those entries move to their month."""
    db = field.db
    _, last = run_of_months(db, "audit_log")
    ahead = month_start(last, 2) + timedelta(days=1)
    time_machine.move_to(ahead, tick=False)
    post(field, report_body(observed_at=ahead.isoformat()))
    waiting = db.scalar(text("SELECT count(*) FROM audit_log_after"))
    assert waiting and waiting >= 1
    assert audit_verify.verify(db, full=True).ok
    db.rollback()
    made = partitions.ensure(db.connection())
    db.commit()
    assert f"audit_log_{suffix(ahead)}" in made and f"reports_{suffix(ahead)}" in made
    assert db.scalar(text("SELECT count(*) FROM audit_log_after")) == 0
    assert db.scalar(text(f"SELECT count(*) FROM audit_log_{suffix(ahead)}")) == waiting  # noqa: S608
    assert audit_verify.verify(db, full=True).ok


def test_the_append_only_guard_covers_every_month_of_the_log(field: Field) -> None:
    db = field.db
    post(field, report_body())
    db.rollback()
    past = month_start(clock.now(), -30)
    partitions.ensure(db.connection(), since=past)  # made now, after the migration
    db.commit()
    current = f"audit_log_{suffix(clock.now())}"
    for statement in (
        f"UPDATE {current} SET actor = 'someone else'",  # noqa: S608
        f"DELETE FROM {current}",  # noqa: S608
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text(statement))
        db.rollback()
    for month in (suffix(clock.now()), suffix(past), "before", "after"):
        name = f"audit_log_{month}"
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text(f"TRUNCATE {name}"))
        db.rollback()
        guards = db.scalars(
            text("SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) ORDER BY 1"),
            {"t": name},
        ).all()
        assert guards == ["audit_log_no_change", "audit_log_no_truncate"]
    assert audit_verify.verify(db).ok


def _scanned(plan: Any, prefix: str) -> list[tuple[str, int]]:
    """(relation, times executed) of every scan on a partition named `prefix…` in a JSON plan."""
    found: list[tuple[str, int]] = []

    def walk(node: dict[str, Any]) -> None:
        relation = node.get("Relation Name", "")
        if relation.startswith(prefix):
            found.append((relation, int(node.get("Actual Loops", 1))))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def _reads(plan: Any, prefix: str) -> list[list[str]]:
    """Each read of a partitioned table in a JSON plan: the partitions (named `prefix…`) it
    is planned onto — an Append's scans, or a lone scan when one partition is left."""
    found: list[list[str]] = []

    def walk(node: dict[str, Any]) -> None:
        children = node.get("Plans", [])
        scans = [c for c in children if c.get("Relation Name", "").startswith(prefix)]
        if node["Node Type"] in ("Append", "Merge Append") and scans:
            found.append(sorted(c["Relation Name"] for c in scans))
            children = [c for c in children if c not in scans]
        elif node.get("Relation Name", "").startswith(prefix):
            found.append([node["Relation Name"]])
        for child in children:
            walk(child)

    walk(plan[0]["Plan"])
    return found


@pytest.fixture
def months_of_visits(field: Field) -> list[datetime]:
    """Partitions from two months back, a source in UNITS[0] since then, and a counted patrol
    there in each of the two past months and now; the first instants of the past months."""
    db = field.db
    now = clock.now()
    months = [month_start(now, k) for k in (-2, -1)]
    partitions.ensure(db.connection(), since=months[0])  # made before the visits below
    db.commit()
    cell = get_cell(db, UNITS[0])
    person = db.scalar(text("SELECT id FROM persons WHERE username = 'insp'"))
    lon, lat = CENTRES[UNITS[0]]
    source = field.client.post(
        "/api/v1/sources",
        headers=field.headers("sup"),
        json={"type": "outfall", "name": "排口", "lat": lat, "lon": lon},
    )
    assert source.status_code == 201, source.text
    db.execute(text("UPDATE sources SET created_at = :at"), {"at": months[0]})
    record_visits(
        db,
        [Visit(cell.id, person, at + timedelta(hours=9), ewkt(lon, lat)) for at in [*months, now]],
    )
    db.commit()
    db.execute(text("ANALYZE reports; ANALYZE cell_visits"))
    return months


def _index_paths(db: Session) -> None:
    """Plan as on a history of real size, where the (cell_id, observed_at) index is read
    newest first: the suite's few rows would otherwise be read whole, every month at once."""
    db.execute(text("SET LOCAL enable_seqscan = off"))


def test_a_months_queries_read_that_months_partition(
    field: Field, months_of_visits: list[datetime]
) -> None:
    db = field.db
    start, end = months_of_visits[1], month_start(clock.now())  # last month
    cells = list(db.scalars(text("SELECT id FROM cells WHERE is_leaf")))

    # The ranking's reports of a month (indicators.py): planned onto that month alone.
    plan = db.scalar(
        text("EXPLAIN (FORMAT JSON) " + str(indicators._REPORTS.text)),
        {"ids": cells, "start": start, "end": end},
    )
    assert {r for r, _ in _scanned(plan, "reports_")} == {f"reports_{suffix(start)}"}

    # A month's lapses (lapses.sql): the patrols in the month are planned onto that month's
    # partition alone; the look-back for each cell's previous patrol onto the months up to
    # it, read newest first. No later month is planned.
    lapse_params = {
        **Selection(None, cells).params(),
        "start": start,
        "end": end,
        "shortest": timedelta(0),
        "leader_duties": list(rules.LEADER_DUTIES),
        "member_duties": list(rules.MEMBER_DUTIES),
        "all_duties": list(rules.DUTIES),
    }
    month = f"cell_visits_{suffix(start)}"
    # every partition up to the month's (earlier tests may have made more months back)
    earlier = sorted(
        row["partition"]
        for row in partitions.listing(db.connection())["cell_visits"]
        if row["partition"] == "cell_visits_before" or row["partition"][-7:] <= suffix(start)
    )
    _index_paths(db)
    plan = db.scalar(text("EXPLAIN (FORMAT JSON) " + str(load("lapses").text)), lapse_params)
    assert sorted(_reads(plan, "cell_visits_")) == sorted([[month], [month], earlier])
    # ... and executed so: the previous patrol of UNITS[0] is found in the month before.
    plan = db.scalar(
        text("EXPLAIN (ANALYZE, FORMAT JSON) " + str(load("lapses").text)), lapse_params
    )
    read = {r for r, loops in _scanned(plan, "cell_visits_") if loops}
    assert read <= set(earlier)
    assert lapses.find_lapses(db, Selection(None, cells), start, end)  # the same SQL answers
    db.rollback()

    # The gaps at an instant of last month (gaps_base.sql, the past): the history after it
    # is not planned, and of the months before, only the instant's own month is read — the
    # newest patrol at or before it and the patrols near the source lie there.
    t = start + timedelta(days=10)
    gap_query = text("EXPLAIN (ANALYZE, FORMAT JSON) " + str(load("gaps_cells").text))
    _index_paths(db)
    plan = db.scalar(gap_query, gap_params(Selection(None, cells), t, False) | {"reason": None})
    planned = _scanned(plan, "cell_visits_")
    assert {r for r, _ in planned} <= set(earlier)
    assert {r for r, loops in planned if loops} == {month}
    assert find_gaps(db, Selection(None, cells), t).cells  # the same SQL answers
    db.rollback()


def _nodes(plan: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        found.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def test_the_previous_patrol_is_read_newest_month_first(field: Field) -> None:
    """Intake's lookup of the reporter's previous patrol (the newest at or before the report)
    reads the months in time order and stops at the first with one: an ordered Append, which
    a default partition would turn into a Merge Append over every month (docs/scale.md)."""
    db = field.db
    lookup_sql = str(queries._LOOKUP.text)
    person = db.scalar(text("SELECT id FROM persons WHERE username = 'insp'"))
    lon, lat = CENTRES[UNITS[0]]
    items = [
        {
            "n": 1,
            "id": str(uuid.uuid4()),
            "lon": lon,
            "lat": lat,
            "at": clock.now().isoformat(),
            "before": None,
        }
    ]
    db.execute(text("SET LOCAL enable_seqscan = off"))  # as with a real history: its index
    plan = db.scalar(
        text("EXPLAIN (FORMAT JSON) " + lookup_sql),
        {"person_id": person, "items": json.dumps(items)},
    )
    db.rollback()
    nodes = _nodes(plan)
    history = [n for n in nodes if n.get("Relation Name", "").startswith("cell_visits_")]
    assert history and all(n.get("Scan Direction") == "Backward" for n in history)
    assert not [n for n in nodes if n["Node Type"] == "Merge Append"]


def _facts(db: Session) -> dict[str, Any]:
    """Every row that must survive a conversion, as it is."""
    queries = {
        "reports": "SELECT id, observed_at, body_hash, counted FROM reports ORDER BY id",
        "visits": "SELECT id, report_id, observed_at FROM cell_visits ORDER BY id",
        "audit": "SELECT seq, at, hash, prev_hash FROM audit_log ORDER BY seq",
        "photos": "SELECT id, report_id FROM photos ORDER BY id",
        "hotspots": "SELECT id, report_id FROM hotspots ORDER BY id",
    }
    return {k: [tuple(r) for r in db.execute(text(q))] for k, q in queries.items()}


@pytest.fixture
def back_at_head(database_url: str) -> Iterator[None]:
    yield
    upgrade(database_url)  # whatever happened, the next tests find the schema at head


def test_a_database_with_rows_converts_both_ways_without_losing_one(
    field: Field, database_url: str, engine: Engine, back_at_head: None
) -> None:
    db = field.db
    now = clock.now()
    last_month = month_start(now, -1) + timedelta(days=5)
    ids = []
    for at, kind in ((now, "patrol"), (last_month, "patrol"), (now, "issue")):
        extra = {"category": "dust", "description": "扬尘"} if kind == "issue" else {}
        ids.append(post(field, report_body(observed_at=at.isoformat(), kind=kind, **extra))["id"])
    photo = field.client.post(
        f"/api/v1/reports/{ids[0]}/photos",
        files={"file": ("p.jpg", jpeg(), "image/jpeg")},
        headers=field.headers("insp"),
    )
    assert photo.status_code == 201, photo.text
    db.rollback()
    before = _facts(db)
    assert len(before["reports"]) == 3 and len(before["visits"]) == 2
    assert len(before["photos"]) == 1 and len(before["hotspots"]) == 1
    assert len(before["audit"]) >= 5
    db.close()

    command.downgrade(alembic_config(database_url), "0012")
    assert current_revision(engine) == "0012"
    with Session(engine) as plain:
        kinds = plain.execute(
            text(
                "SELECT relname, relkind FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace AND relname = ANY(:t)"
            ),
            {"t": [*partitions.PARTITIONED, "report_keys"]},
        ).all()
        assert sorted(kinds) == [("audit_log", "r"), ("cell_visits", "r"), ("reports", "r")]
        assert _facts(plain) == before
        referring = plain.scalars(
            text(
                "SELECT conrelid::regclass::text FROM pg_constraint "
                "WHERE confrelid = 'reports'::regclass ORDER BY 1"
            )
        ).all()
        assert referring == ["cell_visits", "hotspot_events", "hotspots", "hotspots", "photos"]
        assert audit_verify.verify(plain, full=True).ok
        assert plain.scalar(text("SELECT count(*) FROM pg_index WHERE NOT indisvalid")) == 0

    upgrade(database_url)  # as `gridwatch migrate` converts a database that holds reports
    with Session(engine) as converted:
        assert _facts(converted) == before
        assert audit_verify.verify(converted, full=True).ok
        assert converted.scalar(text("SELECT count(*) FROM pg_index WHERE NOT indisvalid")) == 0
        homes = {
            r.tableoid
            for r in converted.execute(text("SELECT tableoid::regclass::text FROM reports"))
        }
        assert homes == {f"reports_{suffix(now)}", f"reports_{suffix(last_month)}"}
        keys = converted.scalar(text("SELECT count(*) FROM report_keys"))
        assert keys == 3
    # The history's ids go on from where they were.
    post(field, report_body(observed_at=now.isoformat()))
    with Session(engine) as after:
        newest = after.scalar(text("SELECT max(id) FROM cell_visits"))
        assert newest is not None and newest > max(v[0] for v in before["visits"])


def test_downgrade_to_0004_and_back(database_url: str, engine: Engine, back_at_head: None) -> None:
    command.downgrade(alembic_config(database_url), "0004")
    assert current_revision(engine) == "0004"
    upgrade(database_url)
    with engine.connect() as conn:
        kind = (
            "SELECT relkind FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace AND relname = 'reports'"
        )
        assert conn.scalar(text(kind)) == "p"
        detail = json.dumps(partitions.listing(conn), default=str)
        assert "reports_before" in detail and "reports_after" in detail
