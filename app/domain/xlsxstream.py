"""A streaming XLSX writer for large exports: each sheet's rows are written as SpreadsheetML
to a temporary file of its own as they come (sheets can be filled side by side, row after
row), and the package is zipped at the end — memory stays flat whatever the size.

Only what the exports use: inline strings, numbers, booleans, datetimes (as Excel serial
numbers with a number format), a fixed set of cell styles (`STYLES`), column widths, a frozen
header row and an autofilter. Text is written as given: callers neutralise formula-like text
(with the quote-prefix style) and characters XML cannot hold.
"""

from __future__ import annotations

import tempfile
import zipfile
from datetime import datetime
from functools import lru_cache
from typing import IO, Any
from xml.sax.saxutils import escape, quoteattr

# Cell styles by name: (number format or None, bold header fill, wrap, vertical, quote prefix)
STYLES: dict[str, tuple[str | None, bool, bool, str | None, bool]] = {
    "plain": (None, False, False, None, False),
    "header": (None, True, True, "center", False),
    "wrap": (None, False, True, "top", False),
    "quoted": (None, False, False, None, True),
    "quoted_wrap": (None, False, True, "top", True),
    "minutes": ("yyyy-mm-dd hh:mm", False, False, None, False),
    "seconds": ("yyyy-mm-dd hh:mm:ss", False, False, None, False),
    "plain_datetime": ("yyyy-mm-dd h:mm:ss", False, False, None, False),
}
STYLE = {name: i for i, name in enumerate(STYLES)}
HEADER_FILL = "00DDE7F0"  # as openpyxl wrote it (ARGB)
EXCEL_EPOCH = datetime(1899, 12, 30)
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def column_letter(i: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    out = ""
    i += 1
    while i:
        i, rest = divmod(i - 1, 26)
        out = chr(65 + rest) + out
    return out


def serial(value: datetime) -> float:
    """A naive datetime as Excel's serial day number (1900 date system)."""
    delta = value - EXCEL_EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1_000_000) / 86_400


class Fragment(str):
    """A cell's XML after its reference, made beforehand (`text_fragment`,
    `datetime_fragment`): written as it is, whatever the style given with it."""

    __slots__ = ()


def text_fragment(value: str, style: str) -> Fragment:
    return Fragment(text_cell(value, STYLE[style]))


def datetime_fragment(value: datetime, style: str) -> Fragment:
    """A naive datetime as a serial number in the style's number format."""
    return Fragment(f' s="{STYLE[style]}"><v>{serial(value)!r}</v></c>')


def text_cell(value: str, style: int) -> str:
    """A text cell after its reference: style, inline string (whitespace at either end
    kept)."""
    if len(value) <= SHORT_TEXT:
        return _short_text_cell(value, style)
    return _text_cell(value, style)


def _text_cell(value: str, style: int) -> str:
    attr = f' s="{style}"' if style else ""
    body = escape(value)
    if value[:1].isspace() or value[-1:].isspace():
        return f'{attr} t="inlineStr"><is><t xml:space="preserve">{body}</t></is></c>'
    return f'{attr} t="inlineStr"><is><t>{body}</t></is></c>'


# Short texts repeat row after row (names, codes, posts, units; a lapse's person rows come
# together): the recent ones are escaped once, in a small cache.
SHORT_TEXT = 64
_short_text_cell = lru_cache(maxsize=1 << 12)(_text_cell)


class Sheet:
    """One worksheet: rows appended in order, cells as (column index, value, style name); a
    `Fragment` value is the cell ready-made."""

    def __init__(self, title: str, widths: list[float], freeze_header: bool) -> None:
        self.title = title
        self.widths = widths
        self.freeze_header = freeze_header
        self.rows = 0
        self.max_col = 0
        self.filter_ref: str | None = None
        self.body = tempfile.TemporaryFile()  # the rows as UTF-8, encoded once
        self.letters = [column_letter(i) for i in range(max(len(widths), 2))]

    def letter(self, col: int) -> str:
        while col >= len(self.letters):
            self.letters.append(column_letter(len(self.letters)))
        return self.letters[col]

    def append(self, cells: list[tuple[int, Any, str]]) -> None:
        """One row; `cells` in column order, values str, int, float, bool or naive datetime
        (None: no cell)."""
        self.rows += 1
        r = self.rows
        parts = [f'<row r="{r}">']
        letters = self.letters
        for col, value, style in cells:
            if value is None:
                continue
            if col >= len(letters):
                self.letter(col)
            if col > self.max_col:
                self.max_col = col
            ref = f'<c r="{letters[col]}{r}"'
            if value.__class__ is Fragment:
                parts.append(ref + value)
                continue
            s = STYLE[style]
            if value.__class__ is str:
                parts.append(ref + text_cell(value, s))
                continue
            attr = f' s="{s}"' if s else ""
            if isinstance(value, bool):
                parts.append(f'{ref}{attr} t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, datetime):
                parts.append(f"{ref}{attr}><v>{serial(value)!r}</v></c>")
            elif isinstance(value, str):
                parts.append(ref + text_cell(str(value), s))
            else:
                parts.append(f"{ref}{attr}><v>{value}</v></c>")
        parts.append("</row>")
        self.body.write("".join(parts).encode())

    def autofilter(self, columns: int) -> None:
        """An autofilter over columns 0..columns-1 of every row written so far."""
        self.filter_ref = f"A1:{self.letter(columns - 1)}{max(self.rows, 1)}"

    def write_to(self, out: IO[bytes]) -> None:
        head = [XML_HEAD, f'<worksheet xmlns="{MAIN}" xmlns:r="{REL}">']
        if self.rows:
            head.append(f'<dimension ref="A1:{self.letter(self.max_col)}{self.rows}"/>')
        if self.freeze_header:
            head.append(
                '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
                'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" '
                'activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
            )
        else:
            head.append('<sheetViews><sheetView workbookViewId="0"/></sheetViews>')
        head.append('<sheetFormatPr defaultRowHeight="15"/>')
        if self.widths:
            head.append("<cols>")
            head += [
                f'<col min="{i + 1}" max="{i + 1}" width="{w}" customWidth="1"/>'
                for i, w in enumerate(self.widths)
            ]
            head.append("</cols>")
        head.append("<sheetData>")
        out.write("".join(head).encode())
        self.body.seek(0)
        while block := self.body.read(1 << 20):
            out.write(block)
        tail = "</sheetData>"
        if self.filter_ref:
            tail += f'<autoFilter ref="{self.filter_ref}"/>'
        out.write((tail + "</worksheet>").encode())

    def close(self) -> None:
        self.body.close()


class Workbook:
    """Sheets in the order added; `close` writes the package to `out` (any binary sink, also
    one that cannot seek)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sheets: list[Sheet] = []

    def add_sheet(self, title: str, widths: list[float], *, freeze_header: bool = False) -> Sheet:
        sheet = Sheet(title[:31], widths, freeze_header)
        self.sheets.append(sheet)
        return sheet

    def close(self) -> None:
        try:
            with zipfile.ZipFile(self.out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
                z.writestr("[Content_Types].xml", self._content_types())
                z.writestr("_rels/.rels", self._root_rels())
                z.writestr("xl/workbook.xml", self._workbook())
                z.writestr("xl/_rels/workbook.xml.rels", self._workbook_rels())
                z.writestr("xl/styles.xml", _styles())
                for i, sheet in enumerate(self.sheets, start=1):
                    with z.open(f"xl/worksheets/sheet{i}.xml", "w", force_zip64=True) as part:
                        sheet.write_to(part)
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop the sheets' temporary files (`close` does, after writing)."""
        for sheet in self.sheets:
            sheet.close()

    def _content_types(self) -> str:
        sheets = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, len(self.sheets) + 1)
        )
        return (
            XML_HEAD
            + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            f"{sheets}</Types>"
        )

    @staticmethod
    def _root_rels() -> str:
        return (
            XML_HEAD + f'<Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>'
        )

    def _workbook(self) -> str:
        sheets = "".join(
            f'<sheet name={quoteattr(s.title)} sheetId="{i}" r:id="rId{i}"/>'
            for i, s in enumerate(self.sheets, start=1)
        )
        names = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
            + escape(_quote_sheet(s.title) + "!" + _absolute(s.filter_ref))
            + "</definedName>"
            for i, s in enumerate(self.sheets)
            if s.filter_ref
        )
        return (
            XML_HEAD + f'<workbook xmlns="{MAIN}" xmlns:r="{REL}">'
            '<bookViews><workbookView activeTab="0"/></bookViews>'
            f"<sheets>{sheets}</sheets>"
            + (f"<definedNames>{names}</definedNames>" if names else "")
            + "</workbook>"
        )

    def _workbook_rels(self) -> str:
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(self.sheets) + 1)
        )
        n = len(self.sheets) + 1
        return (
            XML_HEAD + f'<Relationships xmlns="{PKG_REL}">{rels}'
            f'<Relationship Id="rId{n}" Type="{REL}/styles" Target="styles.xml"/>'
            "</Relationships>"
        )


def _quote_sheet(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _absolute(ref: str) -> str:
    """A1:L9 → $A$1:$L$9."""
    out = []
    for part in ref.split(":"):
        letters = "".join(ch for ch in part if ch.isalpha())
        out.append(f"${letters}${part[len(letters) :]}")
    return ":".join(out)


def _styles() -> str:
    formats = sorted({f for f, *_ in STYLES.values() if f})
    ids = {f: 164 + i for i, f in enumerate(formats)}
    num_fmts = "".join(f'<numFmt numFmtId="{ids[f]}" formatCode={quoteattr(f)}/>' for f in formats)
    xfs = []
    for fmt, header, wrap, vertical, quoted in STYLES.values():
        attrs = f'numFmtId="{ids[fmt] if fmt else 0}" fontId="{1 if header else 0}" '
        attrs += f'fillId="{2 if header else 0}" borderId="0" xfId="0"'
        if fmt:
            attrs += ' applyNumberFormat="1"'
        if header:
            attrs += ' applyFont="1" applyFill="1"'
        if quoted:
            attrs += ' quotePrefix="1"'
        if wrap or vertical:
            align = ' wrapText="1"' if wrap else ""
            align += f' vertical="{vertical}"' if vertical else ""
            xfs.append(f'<xf {attrs} applyAlignment="1"><alignment{align}/></xf>')
        else:
            xfs.append(f"<xf {attrs}/>")
    return (
        XML_HEAD + f'<styleSheet xmlns="{MAIN}">'
        f'<numFmts count="{len(formats)}">{num_fmts}</numFmts>'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
        '<fills count="3"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill>'
        f'<fill><patternFill patternType="solid"><fgColor rgb="{HEADER_FILL}"/>'
        '<bgColor indexed="64"/></patternFill></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    )
