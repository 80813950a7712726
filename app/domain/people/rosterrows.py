"""The rows of a roster (SPEC §3, §6): its columns in English or Chinese, duties in either
language, dates and numbers as Excel leaves them; each row checked on its own, every problem
named by its line (CSV) or row (worksheet) with what to do about it.

A row without a username names its person by phone: the same phone is the same person, and a
new person's username is the phone's digits (a mobile number without +86), so that importing
the same file twice finds the same people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from app.domain.csvfile import formula_problem, shorten
from app.domain.excelvalues import Damaged, as_text, spreadsheet_instant
from app.domain.people.accounts import USERNAME
from app.domain.sheets import Table, Value
from app.models.people import DUTIES

# The importer's column → the headers it accepts besides its own name, Chinese first.
HEADERS: dict[str, tuple[str, ...]] = {
    "cell_code": ("网格编码", "网格代码", "网格编号", "单元网格编码", "网格码", "编码"),
    "duty": ("岗位", "职务", "职责", "岗位类型", "网格职务", "网格角色"),
    "username": ("用户名", "账号", "帐号", "登录名", "登录账号", "user"),
    "name": ("姓名", "名字", "人员姓名", "人员"),
    "phone": ("手机号", "手机", "手机号码", "联系电话", "电话", "电话号码", "联系方式", "mobile"),
    "valid_from": (
        "起始日期",
        "开始日期",
        "起始时间",
        "开始时间",
        "上岗日期",
        "任职日期",
        "生效日期",
        "start",
        "start date",
        "from",
    ),
    "valid_to": (
        "结束日期",
        "截止日期",
        "终止日期",
        "结束时间",
        "离岗日期",
        "失效日期",
        "end",
        "end date",
        "to",
    ),
}
REQUIRED = ("cell_code", "duty", "name", "phone", "valid_from")
DUTY_WORDS = {"网格长": "leader", "网格员": "member", "巡查员": "patroller", "监督员": "supervisor"}
ACCEPTED_DUTIES = f"{', '.join(DUTIES)} ({', '.join(DUTY_WORDS)})"
MAX_NAME = 200
# A digits-only phone that is neither a mobile number (1…, 11 digits), nor dialled with its
# area code (0…), nor a local or service number: Excel dropped the leading 0 of a landline.
LOST_ZERO = re.compile(r"^[2-9]\d{8,10}$")
SERVICE = re.compile(r"^(400|800)\d{7}$")


@dataclass
class RosterRow:
    line: int
    at: str  # "line 5" / "row 5", as the user finds it
    cell_code: str
    duty: str
    username: str | None  # as given; None: known by phone
    name: str
    phone: str | None
    valid_from: datetime | None
    valid_to: datetime | None

    @property
    def known_as(self) -> str:
        """The username the row's person has or will get (derived from the phone)."""
        return self.username or derived_username(self.phone or "") or ""


def phone_digits(phone: str) -> str:
    """The digits of a phone number, without the country code of a Chinese mobile number:
    "+86 139-0000-0002" → 13900000002."""
    digits = re.sub(r"\D", "", phone)
    for prefix in ("0086", "86"):
        rest = digits.removeprefix(prefix)
        if rest != digits and len(rest) == 11 and rest.startswith("1"):
            return rest
    return digits


def derived_username(phone: str) -> str | None:
    """The username of a person known by phone: the phone's digits, when that is one."""
    digits = phone_digits(phone)
    return digits if len(digits) >= 5 and USERNAME.match(digits) else None


def _text(at: str, raw: dict[str, Value], column: str, problems: list[str]) -> str | None:
    try:
        return as_text(raw.get(column), column)
    except Damaged as exc:
        problems.append(f"{at}: {exc}")
        return None


def _phone(at: str, raw: dict[str, Value], problems: list[str]) -> str | None:
    phone = _text(at, raw, "phone", problems)
    if phone and LOST_ZERO.match(phone) and not SERVICE.match(phone):
        problems.append(
            f"{at}: phone {phone} looks like a landline that lost its leading 0 (Excel drops "
            "leading zeros of numbers): format the column as Text (设置单元格格式 › 文本) and "
            f"type it again, e.g. 0{phone[:3]}-{phone[3:]}"
        )
    return phone


def _duty(at: str, value: str | None, problems: list[str]) -> str:
    if not value:
        problems.append(f"{at}: empty duty")
        return ""
    duty = DUTY_WORDS.get(value, value.lower())
    if duty not in DUTIES:
        problems.append(f"{at}: duty {shorten(value)!r} is not one of {ACCEPTED_DUTIES}")
    return duty


def parse_row(
    table: Table, line: int, raw: dict[str, Value], problems: list[str]
) -> RosterRow | None:
    at = table.at(line)
    before = len(problems)
    duty = _duty(at, _text(at, raw, "duty", problems), problems)
    username = _text(at, raw, "username", problems)
    listed = len(problems)
    phone = _phone(at, raw, problems)
    phone_damaged = len(problems) > listed
    if "username" in table.columns:  # then every row names its person by username
        if username is None:
            problems.append(
                f"{at}: empty username (or leave out the 用户名 column: people are then known "
                "by their phone)"
            )
        elif not USERNAME.match(username):
            problems.append(
                f"{at}: username {shorten(username)!r} must be 2–64 letters, digits or _ . @ -"
            )
    elif phone_damaged:
        pass  # named already
    elif not phone:
        problems.append(
            f"{at}: empty phone: without a 用户名 (username) column a person is known by the "
            "phone; give the phone number (or add a 用户名 column)"
        )
    elif derived_username(phone) is None:
        problems.append(
            f"{at}: phone {shorten(phone)!r} gives no username (too few digits); correct it "
            "or add a 用户名 (username) column"
        )
    listed = len(problems)
    cell_code = _text(at, raw, "cell_code", problems)
    if cell_code is None and len(problems) == listed:
        problems.append(f"{at}: empty cell_code")
    name = _text(at, raw, "name", problems)
    if not name:
        problems.append(f"{at}: empty name")
    elif len(name) > MAX_NAME:
        problems.append(f"{at}: name is longer than {MAX_NAME} characters")
    elif problem := formula_problem("name", name):
        problems.append(f"{at}: {problem}")
    bounds: list[datetime | None] = []
    for column in ("valid_from", "valid_to"):
        try:
            bounds.append(spreadsheet_instant(raw.get(column), column))
        except ValueError as exc:
            # A "forever" date such as 9999-12-31 is how some HR systems say "no end".
            hint = "; leave it empty for a duty without end" if column == "valid_to" else ""
            problems.append(f"{at}: {exc}{hint}")
            bounds.append(None)
    if bounds[0] and bounds[1] and bounds[1] <= bounds[0]:
        problems.append(f"{at}: valid_to must be after valid_from")
    if len(problems) > before or cell_code is None or name is None:
        return None
    return RosterRow(line, at, cell_code, duty, username, name, phone, bounds[0], bounds[1])
