from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app import clock
from app.domain.grid.cells import get_cell
from app.domain.grid.defects import partition_defects
from app.models import Cell, Duty, Person, Report, Source
from tests.cli.helpers import run_cli
from tests.factories import PASSWORD, make_user, sign_in, two_by_two


def test_create_user_reads_the_password_from_stdin_and_updates(
    client: TestClient, db: Session
) -> None:
    two_by_two(db)
    made = run_cli(
        "create-user",
        "zhang",
        "--role",
        "command",
        "--scope",
        "410702001",
        "--name",
        "张三",
        "--password-stdin",
        input="first-password\n",
    )
    assert made.exit_code == 0, made.output
    assert "user zhang created (role command, scope 410702001)" in made.output
    sign_in(client, "zhang", "first-password")

    updated = run_cli(
        "create-user", "zhang", "--role", "admin", "--password-stdin", input="second-password\n"
    )
    assert updated.exit_code == 0 and "user zhang updated" in updated.output
    db.expire_all()
    person = db.scalar(select(Person).where(Person.username == "zhang"))
    assert person is not None and person.role == "admin" and person.scope_cell_id is None
    sign_in(client, "zhang", "second-password")


def test_create_user_rejects_bad_role_scope_and_short_password(db: Session) -> None:
    bad_role = run_cli("create-user", "u1", "--role", "king", "--password-stdin", input="x" * 9)
    assert bad_role.exit_code == 1 and "role 'king' is not one of" in bad_role.output
    bad_scope = run_cli(
        "create-user",
        "u1",
        "--role",
        "command",
        "--scope",
        "nowhere",
        "--password-stdin",
        input="long-enough\n",
    )
    assert bad_scope.exit_code == 1 and "no cell with code 'nowhere'" in bad_scope.output
    short = run_cli("create-user", "u1", "--role", "admin", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    no_stdin = run_cli("create-user", "u1", "--role", "admin")
    assert no_stdin.exit_code == 1 and "--password-stdin" in no_stdin.output
    assert db.scalar(select(func.count()).select_from(Person)) == 0


def test_set_password_ends_the_users_sessions(client: TestClient, db: Session) -> None:
    make_user(db, "zhang", "inspector")
    old = [sign_in(client, "zhang") for _ in range(2)]
    r = run_cli("set-password", "zhang", "--password-stdin", input="new-password-1\n")
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "user zhang has a new password; 2 session(s) ended"
    for headers in old:
        assert client.get("/api/v1/cells", headers=headers).status_code == 401
    sign_in(client, "zhang", "new-password-1")
    row = db.execute(text("SELECT actor, action FROM audit_log WHERE action = 'user.password'"))
    assert row.one().actor.startswith("cli:")
    no_stdin = run_cli("set-password", "zhang")
    assert no_stdin.exit_code == 1 and "--password-stdin" in no_stdin.output
    nobody = run_cli("set-password", "nobody", "--password-stdin", input="new-password-1\n")
    assert nobody.exit_code == 1 and "no account with username 'nobody'" in nobody.output


def test_disable_user_ends_the_sessions_and_refuses_sign_in(
    client: TestClient, db: Session
) -> None:
    make_user(db, "zhang", "inspector")
    headers = sign_in(client, "zhang")
    r = run_cli("disable-user", "zhang")
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "user zhang disabled; 1 session(s) ended (account disabled)"
    assert client.get("/api/v1/cells", headers=headers).status_code == 401
    refused = client.post("/api/v1/auth/token", data={"username": "zhang", "password": PASSWORD})
    assert refused.status_code == 401
    row = db.execute(text("SELECT actor, action FROM audit_log WHERE action = 'user.disable'"))
    assert row.one().actor.startswith("cli:")
    # create-user enables the account again.
    again = run_cli(
        "create-user", "zhang", "--role", "inspector", "--password-stdin", input=PASSWORD + "\n"
    )
    assert again.exit_code == 0
    sign_in(client, "zhang")


def test_check_grid_exits_4_and_lists_defects(db: Session) -> None:
    two_by_two(db)
    clean = run_cli("check-grid")
    assert clean.exit_code == 0 and "0 partition defects" in clean.output
    db.execute(text("DELETE FROM cells WHERE code = '410702001001004'"))
    db.commit()
    holed = run_cli("check-grid", "--within", "410702")
    assert holed.exit_code == 4
    assert "gap      parent 410702001" in holed.output
    assert "1 partition defects (1 gaps, 0 overlaps" in holed.output


def test_seed_demo_builds_the_xinxiang_city_and_is_repeatable(
    client: TestClient, db: Session
) -> None:
    first = run_cli("seed-demo")
    assert first.exit_code == 0, first.output
    assert "demo city seeded" in first.output
    for role in ("admin", "supervisor", "command", "discipline", "leader", "inspector"):
        assert f"demo-{role}-2026" in first.output

    city = get_cell(db, "410700")
    assert city.name == "新乡市" and city.level == 1
    districts = db.scalars(select(Cell.code).where(Cell.level == 2).order_by(Cell.code)).all()
    assert districts == ["410702", "410703", "410704", "410711"]
    units = db.scalar(select(func.count()).select_from(Cell).where(Cell.is_leaf)) or 0
    assert 1500 < units < 4000
    assert all(len(c) == 15 for c in db.scalars(select(Cell.code).where(Cell.is_leaf)))
    assert partition_defects(db) == []
    # Some unit cells are unstaffed: no current leader, or nobody at all.
    unstaffed = db.scalar(
        text("""
        SELECT count(*) FROM cells c WHERE c.is_leaf AND NOT EXISTS (
          SELECT 1 FROM duties d WHERE d.cell_id = c.id AND d.duty = 'leader'
             AND (d.valid_to IS NULL OR d.valid_to > now()))""")
    )
    assert 5 < (unstaffed or 0) < units / 10
    assert db.scalar(select(func.count()).select_from(Duty).where(Duty.valid_to.is_not(None)))
    assert db.scalar(select(func.count()).select_from(Source)) == 15
    # About 90 days of history, relative to the clock: rankings of last month compare good and
    # bad communities (not every cell lapsed all month), against the month before.
    oldest = db.scalar(select(func.min(Report.observed_at)))
    assert oldest is not None and clock.now() - oldest > timedelta(days=85)
    this_month = (
        clock.now()
        .astimezone(ZoneInfo("Asia/Shanghai"))
        .replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    )
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    ranked = client.get(
        "/api/v1/indicators",
        params={
            "from": last_month.isoformat(),
            "to": this_month.isoformat(),
            "by": "community",
            "compare": "previous",
        },
        headers=sign_in(client, "admin", "demo-admin-2026"),
    ).json()["rows"]
    met = [r["patrol_met_rate"] for r in ranked if r["patrol_met_rate"] is not None]
    assert len(met) > 10 and max(met) - min(met) > 0.2  # good and bad communities
    assert 0 < sum(met) / len(met) < 1  # neither every cell lapsed nor none
    assert all(r["previous"]["patrol_met_rate"] is not None for r in ranked)  # a month before
    # And today: a gap map with every kind of blind spot to show.
    summary = client.get("/api/v1/gaps", headers=sign_in(client, "admin", "demo-admin-2026"))
    counts = summary.json()["summary"]
    for reason in (
        "never_patrolled",
        "unpatrolled",
        "open_hotspot",
        "overdue_hotspot",
        "unstaffed",
        "missed_problem",
    ):
        assert counts[reason] > 0, reason
    assert 0.5 < counts["patrolled_share"] < 0.95
    # Every case's deadline falls after it was found, and no step before the finding.
    backwards = db.scalar(
        text("""
        SELECT count(*) FROM hotspots h WHERE h.deadline <= h.found_at
           OR EXISTS (SELECT 1 FROM hotspot_events e WHERE e.hotspot_id = h.id
                       AND (e.at < h.found_at OR e.deadline <= h.found_at))""")
    )
    assert backwards == 0
    assert db.scalar(select(func.count()).select_from(Source).where(Source.cell_id.is_(None))) == 0

    # The demo inspector sees their own cells only; the command office its district.
    mine = client.get("/api/v1/cells", headers=sign_in(client, "inspector", "demo-inspector-2026"))
    assert 1 <= mine.json()["total"] <= 3
    district = client.get(
        "/api/v1/cells",
        params={"level": 2},
        headers=sign_in(client, "command", "demo-command-2026"),
    )
    assert [c["code"] for c in district.json()["cells"]] == ["410702"]

    again = run_cli("seed-demo")
    assert again.exit_code == 0 and "already present" in again.output
    assert (db.scalar(select(func.count()).select_from(Cell).where(Cell.is_leaf)) or 0) == units
