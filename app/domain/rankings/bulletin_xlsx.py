"""The bulletin as one XLSX sheet, laid out to print on one page: title, period and scope,
the headline numbers, the ten worst units, the overdue and the missed cases."""

from __future__ import annotations

from typing import IO, Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from app.domain.formulas import formula_start

from .bulletin import LISTED, Bulletin
from .words import HEADLINE_RATES, RATE_WORDS, WORDS, local, percent

HEAD = PatternFill("solid", fgColor="DDE7F0")
BOLD = Font(bold=True)


def _text(value: Any) -> Any:
    """Text a spreadsheet would run as a formula is stored as typed (quote prefix)."""
    if isinstance(value, str) and formula_start(value):
        return "'" + value
    return value


def bulletin_xlsx(data: Bulletin, lang: str, out: IO[bytes]) -> None:
    w, rates = WORDS[lang], RATE_WORDS[lang]
    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)
    ws.title = "月度通报" if lang == "zh" else "bulletin"
    for col, width in zip("ABCDEFGH", (8, 18, 22, 14, 14, 22, 14, 14), strict=True):
        ws.column_dimensions[col].width = width
    ws.append([f"{w['title']} {data.month}"])
    ws["A1"].font = Font(bold=True, size=16)
    ws.append(
        [
            f"{w['period']}: {local(data.start, data.zone)} – {local(data.end, data.zone)}",
            None,
            None,
            f"{w['scope']}: {data.scope}",
        ]
    )
    ws.append([f"{w['generated']}: {local(data.generated_at, data.zone)} {data.author}"])
    ws.append([])
    _section(ws, w["headline"])
    ws.append([w["unit_cells"], data.unit_cells])
    for key in ("hotspots_found", "hotspots_closed", "overdue_hotspots", "missed_hotspots"):
        ws.append([w[key], data.counts[key]])
    _header(ws, ["", "", w["previous"]])
    for key in HEADLINE_RATES:
        ws.append([rates[key], percent(data.overall[key]), percent(data.previous_overall[key])])
    ws.append([])
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
        ws.append(
            [
                r["rank"],
                r.get("code") or r.get("username"),
                _text(r["name"]),
                percent(r["patrol_met_rate"]),
                percent(previous),
                percent(r["valid_report_rate"]),
                percent(r["closed_rate"]),
                percent(r["missed_rate"]),
            ]
        )
    ws.append([])
    _cases(ws, data, lang, w["overdue"], data.overdue, overdue=True)
    _cases(ws, data, lang, w["missed"], data.missed, overdue=False)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    wb.save(out)


def _section(ws: Worksheet, title: str) -> None:
    ws.append([title])
    ws.cell(ws.max_row, 1).font = Font(bold=True, size=13)


def _header(ws: Worksheet, labels: list[str]) -> None:
    ws.append(labels)
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
        ws.append([w["none"]])
        ws.append([])
        return
    last = [w["overdue_hours"], w["still_overdue"]] if overdue else [w["status"], w["assignee"]]
    _header(
        ws, ["#", w["cell"], w["description"], w["found_at"], w["deadline"], w["source"], *last]
    )
    for i, h in enumerate(rows[:LISTED], start=1):
        tail = (
            [h["overdue_hours"], w["yes"] if h["overdue_at_end"] else w["no"]]
            if overdue
            else [h["status"], _text(h["assignee_name"] or "")]
        )
        ws.append(
            [
                i,
                f"{h['cell_code']} {h['cell_name']}",
                _text(h["description"]),
                local(h["found_at"], data.zone),
                local(h["deadline"], data.zone),
                w.get("src_" + h["source"], h["source"]),
                *tail,
            ]
        )
        ws.cell(ws.max_row, 3).alignment = Alignment(wrap_text=True, vertical="top")
    if len(rows) > LISTED:
        ws.append([w["more"].format(n=len(rows) - LISTED)])
    ws.append([])
