"""HTML to PDF (WeasyPrint), with the CJK font every gridwatch document is set in."""

from __future__ import annotations

from weasyprint import CSS, HTML

FONT_CSS = CSS(string='html { font-family: "Noto Sans CJK SC", "Noto Serif CJK SC", sans-serif; }')


def render_pdf(html: str, *, base_url: str | None = None) -> bytes:
    """The PDF of `html`; relative links resolve against `base_url` (none: only inline and
    data: resources, nothing is fetched from the network)."""
    document = HTML(string=html, base_url=base_url)
    pdf = document.write_pdf(stylesheets=[FONT_CSS])
    assert pdf is not None
    return bytes(pdf)
