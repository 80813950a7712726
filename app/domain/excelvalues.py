"""Values as a spreadsheet leaves them, taken or refused with the fix in words.

Excel changes what it is given: a long digit string becomes a number shown as 4.10702E+14 (and
saved so in CSV, the digits gone), a leading zero is dropped, a date becomes a serial number or
`2025/1/1`. What can be read back exactly is (a date serial, a number cell holding all the
digits); what has lost digits is refused, saying how to keep them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from app.domain.timeparse import local_zone, parse_instant, plausible_instant

SCIENTIFIC = re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")
TRAILING_POINT_ZERO = re.compile(r"^\d+\.0+$")
# Excel's 1900 date system: serial 1 is 1900-01-01, with the phantom 1900-02-29 (so day 0 is
# 1899-12-30 for every serial from 61 on, which is all this system takes: 2000 … 2100).
EXCEL_EPOCH = datetime(1899, 12, 30)
SERIALS = (36526, 73051)  # 2000-01-01 … 2100-01-01
LOCAL_DATE = re.compile(
    r"^(?P<y>\d{4})\s*[/.\-年]\s*(?P<m>\d{1,2})\s*[/.\-月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?$"
)
MAX_EXACT_DIGITS = 15  # Excel keeps 15 significant digits of a number
TEXT_FORMAT = "format the column as Text (设置单元格格式 › 文本) before typing or pasting"


class Damaged(ValueError):
    """A value a spreadsheet has changed beyond repair; the message says how to keep it."""


def number_text(value: int | float, column: str) -> str:
    """The digits of a whole number cell, exactly; Damaged when they cannot be exact."""
    if isinstance(value, float) and not value.is_integer():
        raise Damaged(f"{column} {value!r} is a number with decimals, not a code")
    digits = str(abs(int(value)))
    if len(digits) > MAX_EXACT_DIGITS:
        raise Damaged(
            f"{column} {digits} is stored as a number of {len(digits)} digits; Excel keeps "
            f"only {MAX_EXACT_DIGITS}, so the last ones are lost: {TEXT_FORMAT}, type the "
            "values again and save"
        )
    return ("-" if value < 0 else "") + digits


def check_not_mangled(text: str, column: str) -> str:
    """`text`, or Damaged when it is how Excel writes a long number it has shortened."""
    if SCIENTIFIC.match(text):
        raise Damaged(
            f"{column} {text!r} is in scientific notation: Excel showed a long number "
            "shortened and the CSV kept only those digits. In Excel, "
            f"{TEXT_FORMAT}, type the values again and save — or send the .xlsx itself"
        )
    if TRAILING_POINT_ZERO.match(text):
        raise Damaged(
            f"{column} {text!r} ends in .0: a spreadsheet wrote the value as a number; "
            f"{TEXT_FORMAT}, or remove the .0"
        )
    return text


def as_text(value: object, column: str) -> str | None:
    """A cell as text: None when blank; whole numbers as their exact digits; text that Excel
    has shortened refused (Damaged)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return number_text(value, column)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    text = str(value).strip()
    return check_not_mangled(text, column) if text else None


def spreadsheet_instant(value: object, column: str) -> datetime | None:
    """A date or date-time as a spreadsheet gives it: a date cell, a serial number
    (45658 = 2025-01-01), 2025/1/1, 2025-1-1, 2025年1月1日, or ISO-8601 (with an offset, or
    local time). ValueError names the value and what is accepted."""
    if value is None:
        return None
    zone = local_zone()
    if isinstance(value, datetime):
        instant = value if value.tzinfo else value.replace(tzinfo=zone)
    elif isinstance(value, date):
        instant = datetime.combine(value, time(0), tzinfo=zone)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        instant = _serial(value, column)
    else:
        instant = _from_text(str(value).strip(), column)
    try:
        return plausible_instant(instant)
    except ValueError as exc:
        raise ValueError(f"{column} {str(value)[:60]!r} {exc}") from None


def _serial(serial: float, column: str) -> datetime:
    if not SERIALS[0] <= serial < SERIALS[1]:
        raise ValueError(
            f"{column} {serial!r} is a number, and as an Excel date serial it is not between "
            "2000 and 2100; give a date such as 2025/1/1"
        )
    local = EXCEL_EPOCH + timedelta(days=float(serial))
    return local.replace(microsecond=0, tzinfo=local_zone())


def _from_text(text: str, column: str) -> datetime:
    if re.fullmatch(r"\d{5}(\.\d+)?", text):  # a serial number written into a CSV
        return _serial(float(text), column)
    m = LOCAL_DATE.match(text)
    if m:
        try:
            return datetime(
                int(m["y"]),
                int(m["m"]),
                int(m["d"]),
                int(m["H"] or 0),
                int(m["M"] or 0),
                int(m["S"] or 0),
                tzinfo=local_zone(),
            )
        except ValueError:
            pass  # 2025/13/1: named below
    try:
        return parse_instant(text)
    except ValueError:
        raise ValueError(
            f"{column} {text[:60]!r} is not an ISO-8601 date or date-time, nor a date such as "
            "2025/1/1, 2025-1-1 or 2025年1月1日"
        ) from None
