"""Text a spreadsheet would run as a formula (CSV/formula injection): one rule for the
importers, which refuse it in names, and the exports, which neutralise it.

Excel, WPS and LibreOffice run a cell whose first character is = + - or @; they skip leading
blanks to find it, and an input method turns the full-width ＝ ＋ － ＠ into those. A leading
tab, carriage return or line feed is refused as well: it hides such a start from a reader and
can split a row.
"""

from __future__ import annotations

FORMULA_SIGNS = frozenset("=+-@＝＋－＠")
LEADING_CONTROLS = ("\t", "\r", "\n")


def formula_start(value: str) -> str | None:
    """The character that makes a spreadsheet take `value` for a formula, or None."""
    if value.startswith(LEADING_CONTROLS):
        return value[0]
    first = value.lstrip()[:1]
    return first if first and first in FORMULA_SIGNS else None
