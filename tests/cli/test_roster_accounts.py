"""Issue 19: `import-roster FILE --accounts OUT.xlsx` gives every person of the roster without a
login one, with a role from the duty and a one-time password written to a sheet for
distribution; the first sign-in (API or page) must choose a new password before anything else
answers."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.models import Person, UserAccount
from tests.cli.helpers import run_cli
from tests.cli.test_roster_from_excel import ROWS, xlsx
from tests.factories import UNITS, make_user, two_by_two


def sheet_rows(path: Path) -> list[list[str]]:
    book = load_workbook(path, read_only=True)
    sheet = book.worksheets[0]
    rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    book.close()
    return [r for r in rows if any(r)]


def token_for(client: TestClient, username: str, password: str) -> tuple[int, dict[str, object]]:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return r.status_code, r.json()


def test_accounts_sheet_holds_working_one_time_logins_with_roles_from_duties(
    tmp_path: Path, db: Session, client: TestClient
) -> None:
    two_by_two(db)
    roster = xlsx(tmp_path / "名单.xlsx", ROWS)
    out = tmp_path / "accounts.xlsx"

    result = run_cli("import-roster", roster, "--accounts", out)

    assert result.exit_code == 0, result.output
    assert f"3 new persons, 3 logins created → {out}" in result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    header, *rows, note = sheet_rows(out)
    assert header[:6] == [
        "用户名 username",
        "姓名 name",
        "手机号 phone",
        "网格 cells",
        "角色 role",
        "一次性密码 one-time password",
    ]
    assert "首次登录须修改一次性密码" in note[0]
    by_name = {r[1]: r for r in rows}
    assert by_name["王建国"][:5] == ["13900000001", "王建国", "13900000001", UNITS[0], "leader"]
    assert by_name["李芳"][:5] == [
        "13900000002",
        "李芳",
        "13900000002",
        f"{UNITS[0]} {UNITS[1]}",
        "inspector",
    ]
    assert by_name["赵敏"][4] == "inspector"
    assert len({r[5] for r in rows}) == 3  # three different passwords

    for username, _, _, cells, _, password in rows:
        status, answer = token_for(client, username, password)
        assert status == 200 and answer["password_change_required"] is True
        headers = {"Authorization": f"Bearer {answer['access_token']}"}
        refused = client.get("/api/v1/cells", headers=headers)
        assert refused.status_code == 403 and "one-time password" in refused.json()["detail"]
        wrong = client.post(
            "/api/v1/auth/password",
            json={"current_password": "nope-nope-nope", "new_password": "my-own-password-1"},
            headers=headers,
        )
        assert wrong.status_code == 422 and "current password is wrong" in wrong.text
        same = client.post(
            "/api/v1/auth/password",
            json={"current_password": password, "new_password": password},
            headers=headers,
        )
        assert same.status_code == 422 and "must differ" in same.text
        changed = client.post(
            "/api/v1/auth/password",
            json={"current_password": password, "new_password": "my-own-password-1"},
            headers=headers,
        )
        assert changed.status_code == 200, changed.text
        mine = client.get("/api/v1/cells", headers=headers)  # the same token goes on
        assert mine.status_code == 200, mine.text
        assert {c["code"] for c in mine.json()["cells"]} & set(cells.split())
        assert token_for(client, username, password)[0] == 401
        status, answer = token_for(client, username, "my-own-password-1")
        assert status == 200 and answer["password_change_required"] is False

    actions = db.execute(
        text("SELECT action, after FROM audit_log WHERE action LIKE 'user.%' ORDER BY seq")
    ).all()
    created = [a.after for a in actions if a.action == "user.create"]
    assert len(created) == 3 and all(a["one_time_password"] for a in created)
    changes = [a.after for a in actions if a.action == "user.password"]
    assert [c["by"] for c in changes] == ["self"] * 3
    assert all(c["one_time_password_replaced"] for c in changes)


def test_only_people_without_a_login_get_one_and_an_existing_sheet_is_never_overwritten(
    tmp_path: Path, db: Session
) -> None:
    two_by_two(db)
    make_user(db, "13900000001", "inspector")  # 王建国 signs in already
    roster = xlsx(tmp_path / "名单.xlsx", ROWS)
    taken = tmp_path / "taken.xlsx"
    taken.write_bytes(b"earlier passwords")

    refusal = run_cli("import-roster", roster, "--accounts", taken)
    assert refusal.exit_code == 1
    assert "the file exists already; choose a new name" in refusal.output
    assert taken.read_bytes() == b"earlier passwords"
    assert db.scalar(select(func.count()).select_from(Person)) == 1

    out = tmp_path / "new.xlsx"
    result = run_cli("import-roster", roster, "--accounts", out)
    assert result.exit_code == 0, result.output
    assert "2 logins created" in result.output
    _, *rows, _ = sheet_rows(out)
    assert sorted(r[0] for r in rows) == ["13900000002", "13900000003"]
    db.expire_all()
    assert db.scalar(select(Person.role).where(Person.username == "13900000001")) == "leader"
    accounts = db.scalars(select(UserAccount)).all()
    assert sorted(a.must_change_password for a in accounts) == [False, True, True]
    assert not list(tmp_path.glob(".*incomplete"))


def test_a_rejected_roster_writes_no_sheet(tmp_path: Path, db: Session) -> None:
    two_by_two(db)
    roster = xlsx(tmp_path / "bad.xlsx", [[1, "999", "网格员", "李芳", "13900000002", "2025/1/1"]])
    out = tmp_path / "accounts.xlsx"
    result = run_cli("import-roster", roster, "--accounts", out)
    assert result.exit_code == 1 and "row 3: no cell with code '999'" in result.output
    assert not out.exists() and not list(tmp_path.glob(".*incomplete"))


def test_the_first_page_sign_in_leads_to_the_password_form(
    tmp_path: Path, db: Session, client: TestClient
) -> None:
    two_by_two(db)
    out = tmp_path / "accounts.xlsx"
    assert (
        run_cli("import-roster", xlsx(tmp_path / "r.xlsx", ROWS), "--accounts", out).exit_code == 0
    )
    _, first, *_ = sheet_rows(out)
    username, password = first[0], first[5]

    login = client.post(
        "/login",
        data={"username": username, "password": password, "next": "/m/"},
        follow_redirects=False,
    )
    assert login.status_code == 303 and login.headers["location"] == "/password?next=/m/"
    for page in ("/map", "/m/"):
        away = client.get(page, follow_redirects=False)
        assert away.status_code == 303
        assert away.headers["location"] == f"/password?next={page}"
    form = client.get("/password?next=/m/")
    assert form.status_code == 200
    for hook in ("password-current", "password-new", "password-repeat", "password-submit"):
        assert f'data-testid="{hook}"' in form.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    fields = {"current_password": password, "csrf": csrf[1], "next": "/m/"}

    mismatch = client.post(
        "/password",
        data=fields | {"new_password": "mine-mine-mine", "repeat_password": "mine-mine-mina"},
    )
    assert mismatch.status_code == 422 and "两次输入的新密码不一致" in mismatch.text
    done = client.post(
        "/password",
        data=fields | {"new_password": "mine-mine-mine", "repeat_password": "mine-mine-mine"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/m/"
    phone = client.get("/m/")
    assert phone.status_code == 200, phone.text[:300]
