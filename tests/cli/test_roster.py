from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.models import Duty, Person
from tests.cli.helpers import run_cli
from tests.factories import two_by_two

HEADER = "cell_code,duty,username,name,phone,valid_from,valid_to\n"


def write(path: Path, body: str, encoding: str = "utf-8") -> Path:
    path.write_text(HEADER + body, encoding=encoding)
    return path


def duties(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Duty)) or 0


def test_roster_creates_persons_and_duties_with_validity(tmp_path: Path, db: Session) -> None:
    two_by_two(db)
    path = write(
        tmp_path / "roster.csv",
        "410702001001001,leader,wangjg,王建国,13900000001,2026-01-01,\n"
        "410702001001001,网格员,lifang,李芳,13900000002,2026-01-01,2026-09-01\n"
        "410702001001002,patroller,lifang,李芳,13900000002,2026-01-01T08:00:00+08:00,\n",
    )

    result = run_cli("import-roster", path)

    assert result.exit_code == 0, result.output
    assert "3 duties added, 0 updated, 2 new persons" in result.output
    lifang = db.scalar(select(Person).where(Person.username == "lifang"))
    assert lifang is not None and lifang.role == "inspector" and lifang.name == "李芳"
    member = db.scalar(select(Duty).where(Duty.duty == "member"))
    assert member is not None and member.valid_to is not None
    assert member.valid_to.isoformat() == "2026-08-31T16:00:00+00:00"  # midnight Asia/Shanghai


def test_reimport_ends_a_duty_without_losing_history(tmp_path: Path, db: Session) -> None:
    two_by_two(db)
    first = write(tmp_path / "a.csv", "410702001001001,leader,wangjg,王建国,139,2026-01-01,\n")
    assert run_cli("import-roster", first).exit_code == 0
    second = write(
        tmp_path / "b.csv",
        "410702001001001,leader,wangjg,王建国,139,2026-01-01,2026-06-01\n"
        "410702001001001,leader,zhaomin,赵敏,138,2026-06-01,\n",
    )

    result = run_cli("import-roster", second)

    assert result.exit_code == 0, result.output
    assert "1 duties added, 1 updated" in result.output
    assert duties(db) == 2
    # Each change is in the audit log, by the CLI's user, with before and after.
    entries = db.execute(
        text("SELECT actor, action, before, after FROM audit_log ORDER BY seq")
    ).all()
    assert all(e.actor.startswith("cli:") for e in entries)
    actions = [e.action for e in entries]
    assert actions.count("roster.import") == 2 and actions.count("duty.create") == 2
    (ended,) = [e for e in entries if e.action == "duty.update"]
    assert ended.before["valid_to"] is None and ended.after["valid_to"].startswith("2026-05-31")


def test_bad_rows_are_named_and_nothing_is_imported(tmp_path: Path, db: Session) -> None:
    two_by_two(db)
    path = write(
        tmp_path / "bad.csv",
        "410702001001001,leader,wangjg,王建国,139,2026-01-01,\n"
        "999,member,x1,某人,139,2026-01-01,\n"
        "410702001001002,boss,x2,某人,139,2026-01-01,\n"
        "410702001001003,member,x3,某人,139,2026-13-01,\n"
        "410702001001004,member,x4,某人,139,2026-05-01,2026-04-01\n",
    )

    result = run_cli("import-roster", path)

    assert result.exit_code == 1
    out = result.output
    assert "line 3: no cell with code '999'" in out
    assert "line 4: duty 'boss' is not one of leader, member, patroller, supervisor" in out
    assert "line 5: valid_from '2026-13-01' is not an ISO-8601 date" in out
    assert "line 6: valid_to must be after valid_from" in out
    assert duties(db) == 0
    assert db.scalar(select(func.count()).select_from(Person)) == 0


def test_gbk_roster_is_detected_and_the_encoding_option_still_works(
    tmp_path: Path, db: Session
) -> None:
    two_by_two(db)
    path = write(
        tmp_path / "gbk.csv",
        "410702001001001,网格长,wangjg,王建国,139,2026-01-01,\n",
        encoding="gbk",
    )

    detected = run_cli("import-roster", path)
    assert detected.exit_code == 0, detected.output
    assert "read as GBK text" in detected.output
    assert db.scalar(select(Person.name).where(Person.username == "wangjg")) == "王建国"

    again = write(
        tmp_path / "gbk2.csv",
        "410702001001002,网格员,lifang,李芳,138,2026-01-01,\n",
        encoding="gbk",
    )
    right = run_cli("import-roster", again, "--encoding", "GBK")
    assert right.exit_code == 0, right.output
    assert db.scalar(select(Person.name).where(Person.username == "lifang")) == "李芳"


def test_missing_columns_are_named(tmp_path: Path, db: Session) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("cell_code,username\n1,a\n", encoding="utf-8")
    result = run_cli("import-roster", path)
    assert result.exit_code == 1
    assert (
        "missing column(s) duty, name, phone, valid_from (in Chinese: 岗位, 姓名, 手机号, 起始日期)"
        in result.output
    )
