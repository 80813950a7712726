"""The bulletin as a file: XLSX or PDF."""

from __future__ import annotations

from typing import Any

from .bulletin import Bulletin
from .bulletin_html import bulletin_pdf
from .bulletin_xlsx import bulletin_xlsx

BULLETIN_FORMATS = {
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "pdf": ("application/pdf", "pdf"),
}


def write_bulletin(data: Bulletin, fmt: str, lang: str, out: Any) -> None:
    if fmt == "pdf":
        out.write(bulletin_pdf(data, lang))
    else:
        bulletin_xlsx(data, lang, out)
