"""The credentials sheet `import-roster --accounts OUT.xlsx` writes for distribution: one row
per new login — username, name, phone, cells, role and the one-time password, which its owner
must replace at the first sign-in. The file is created readable by its owner only."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from app.domain.formulas import formula_start

HEADER = (
    ("用户名", "username", 18),
    ("姓名", "name", 12),
    ("手机号", "phone", 16),
    ("网格", "cells", 40),
    ("角色", "role", 10),
    ("一次性密码", "one-time password", 18),
)
NOTE = "首次登录须修改一次性密码。The one-time password must be replaced at the first sign-in."


@dataclass(frozen=True)
class Credential:
    username: str
    name: str
    phone: str | None
    cells: list[str]
    role: str
    password: str


def _text(ws: Any, value: str, bold: bool = False) -> WriteOnlyCell:
    """Text that stays text: a phone such as +86… is never taken for a formula."""
    cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))
    cell.data_type = "s"
    if formula_start(value):
        cell.quotePrefix = True
    if bold:
        cell.font = Font(bold=True)
    return cell


def write_credentials(path: Path, credentials: list[Credential]) -> None:
    """Write the sheet to `path`, which must not exist yet (mode 0600)."""
    book = Workbook(write_only=True)
    ws = book.create_sheet("账号 accounts")
    for i, (_, _, width) in enumerate(HEADER):
        ws.column_dimensions[chr(ord("A") + i)].width = width
    ws.append([_text(ws, f"{zh} {en}", bold=True) for zh, en, _ in HEADER])
    for c in credentials:
        values = (c.username, c.name, c.phone or "", " ".join(c.cells), c.role, c.password)
        ws.append([_text(ws, v) for v in values])
    ws.append([])
    ws.append([_text(ws, NOTE)])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        book.save(out)
