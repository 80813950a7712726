"""The bulletin as one XLSX sheet, laid out to print on one page: title, period and scope,
the headline numbers, the ten worst units, the overdue and the missed cases."""

from __future__ import annotations

from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from app.domain.formulas import formula_start

from .bulletin import LISTED, Bulletin
from .words import HEADLINE_RATES, RATE_WORDS, WORDS, local, percent, period

HEAD = PatternFill("solid", fgColor="DDE7F0")
BOLD = Font(bold=True)


def _append(ws: Worksheet, values: list[Any]) -> None:
    """A row whose text stays text: characters XML cannot hold become U+FFFD, and text that a
    spreadsheet would run as a formula is stored as a string with Excel's quote prefix."""
    ws.append([ILLEGAL_CHARACTERS_RE.sub("\ufffd", v) if isinstance(v, str) else v for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str) and formula_start(cell.value):
            cell.data_type = "s"
            cell.quotePrefix = True


def bulletin_xlsx(data: Bulletin, lang: str, out: IO[bytes]) -> None:
    w, rates = WORDS[lang], RATE_WORDS[lang]
    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)
    ws.title = "月度通报" if lang == "zh" else "bulletin"
    for col, width in zip("ABCDEFGH", (8, 18, 22, 14, 14, 22, 14, 14), strict=True):
        ws.column_dimensions[col].width = width
    _append(ws, [f"{w['title']} {data.month}"])
    ws["A1"].font = Font(bold=True, size=16)
    _append(
        ws,
        [
            period(data.start, data.end, data.generated_at, data.zone, lang),
            None,
            None,
            f"{w['scope']}: {data.scope}",
        ],
    )
    _append(ws, [f"{w['generated']}: {local(data.generated_at, data.zone)} {data.author}"])
    _append(ws, [])
    _section(ws, w["headline"])
    _append(ws, [w["unit_cells"], data.unit_cells])
    for key in ("hotspots_found", "hotspots_closed", "overdue_hotspots", "missed_hotspots"):
        _append(ws, [w[key], data.counts[key]])
    _header(ws, ["", "", w["previous"]])
    for key in HEADLINE_RATES:
        _append(ws, [rates[key], percent(data.overall[key]), percent(data.previous_overall[key])])
    _append(ws, [])
    _section(ws, f"{w['worst']}")
    _header(
        ws,
        [
            w["rank"],
            w["code"],
            w["name"],
            rates["patrol_met_rate"],
            w["previous"],
            rates["valid_report_rate"],
            rates["closed_rate"],
            rates["missed_rate"],
        ],
    )
    for r in data.worst.rows:
        previous = (r.get("previous") or {}).get("patrol_met_rate")
        _append(
            ws,
            [
                r["rank"],
                r.get("code") or r.get("username"),
                r["name"],
                percent(r["patrol_met_rate"]),
                percent(previous),
                percent(r["valid_report_rate"]),
                percent(r["closed_rate"]),
                percent(r["missed_rate"]),
            ],
        )
    _append(ws, [])
    _cases(ws, data, lang, w["overdue"], data.overdue, overdue=True)
    _cases(ws, data, lang, w["missed"], data.missed, overdue=False)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    wb.save(out)


def _section(ws: Worksheet, title: str) -> None:
    _append(ws, [title])
    ws.cell(ws.max_row, 1).font = Font(bold=True, size=13)


def _header(ws: Worksheet, labels: list[str]) -> None:
    _append(ws, labels)
    for i in range(1, len(labels) + 1):
        cell = ws.cell(ws.max_row, i)
        cell.font = BOLD
        cell.fill = HEAD
        cell.alignment = Alignment(wrap_text=True, vertical="center")


def _cases(
    ws: Worksheet,
    data: Bulletin,
    lang: str,
    title: str,
    rows: list[dict[str, Any]],
    *,
    overdue: bool,
) -> None:
    w = WORDS[lang]
    _section(ws, f"{title} ({len(rows)})")
    if not rows:
        _append(ws, [w["none"]])
        _append(ws, [])
        return
    last = [w["overdue_hours"], w["still_overdue"]] if overdue else [w["status"], w["assignee"]]
    _header(
        ws, ["#", w["cell"], w["description"], w["found_at"], w["deadline"], w["source"], *last]
    )
    for i, h in enumerate(rows[:LISTED], start=1):
        tail = (
            [h["overdue_hours"], w["yes"] if h["overdue_at_end"] else w["no"]]
            if overdue
            else [h["status"], h["assignee_name"] or ""]
        )
        _append(
            ws,
            [
                i,
                f"{h['cell_code']} {h['cell_name']}",
                h["description"],
                local(h["found_at"], data.zone),
                local(h["deadline"], data.zone),
                w.get("src_" + h["source"], h["source"]),
                *tail,
            ],
        )
        ws.cell(ws.max_row, 3).alignment = Alignment(wrap_text=True, vertical="top")
    if len(rows) > LISTED:
        _append(ws, [w["more"].format(n=len(rows) - LISTED)])
    _append(ws, [])
