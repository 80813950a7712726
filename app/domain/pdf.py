"""Readable documents as PDF, from HTML and CSS (WeasyPrint, on the machine's pango and
fontconfig): the case dossier's summary, the monthly bulletin.

    from app.domain.pdf import render_pdf
    pdf: bytes = render_pdf("<h1>案卷</h1><p>…</p>")

`render_pdf` adds the house style underneath the document's own CSS:
- A4 pages, numbered at the foot ("第 3 页 / 共 7 页 · page 3 of 7");
- Chinese text in Noto Sans CJK SC (headings in Noto Serif CJK SC) — Debian's
  `fonts-noto-cjk`, so no character is drawn as a box ("tofu");
- tables with thin rules and repeated header rows, `.signature` blocks kept on one page.

Give user text escaped (`html.escape`). Resources are fetched only from `data:` URLs
(embed images as `data:image/png;base64,…` or inline SVG), plus local `file:` URLs when a
`base_url` is given — never from the network, so a document cannot make the server call out.
"""

from __future__ import annotations

from PIL import ImageFile

_truncated_before = ImageFile.LOAD_TRUNCATED_IMAGES
from weasyprint import CSS, HTML  # noqa: E402
from weasyprint.urls import URLFetcher  # noqa: E402

# WeasyPrint's import sets Pillow's process-wide LOAD_TRUNCATED_IMAGES; our images are our own
# display copies, but the photo check (app/domain/reports/photos.py) must keep refusing a
# truncated upload in every process that ever renders a PDF.
ImageFile.LOAD_TRUNCATED_IMAGES = _truncated_before

SANS = '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif'
SERIF = '"Noto Serif CJK SC", "Noto Serif SC", "Source Han Serif SC", serif'
HOUSE_CSS = f"""
@page {{
  size: A4;
  margin: 16mm 15mm 18mm 15mm;
  @bottom-center {{
    content: "第 " counter(page) " 页 / 共 " counter(pages) " 页 · page " counter(page)
      " of " counter(pages);
    font-family: {SANS};
    font-size: 8pt;
    color: #555;
  }}
}}
html {{ font-family: {SANS}; font-size: 9.5pt; line-height: 1.45; color: #111; }}
h1, h2, h3 {{ font-family: {SERIF}; font-weight: bold; margin: 0.8em 0 0.35em; }}
h1 {{ font-size: 16pt; }}
h2 {{ font-size: 12pt; border-bottom: 0.6pt solid #345; padding-bottom: 1pt; }}
h3 {{ font-size: 10.5pt; }}
table {{ border-collapse: collapse; width: 100%; margin: 0.3em 0 0.6em; }}
thead {{ display: table-header-group; }}
th, td {{ border: 0.5pt solid #999; padding: 2pt 4pt; vertical-align: top; text-align: left; }}
th {{ background: #dde7f0; }}
tr, img, svg, figure {{ break-inside: avoid; }}
.signature {{ break-inside: avoid; }}
"""


def render_pdf(html: str, *, base_url: str | None = None) -> bytes:
    """The PDF of an HTML document, in the house style (A4, page numbers, CJK fonts).
    `base_url` resolves relative links and allows local `file:` URLs."""
    protocols = ("data", "file") if base_url else ("data",)
    document = HTML(
        string=html,
        base_url=base_url,
        url_fetcher=URLFetcher(allowed_protocols=protocols, timeout=5),
    )
    return document.write_pdf(stylesheets=[CSS(string=HOUSE_CSS)])
