"""The bulletin as one printed page (A4 landscape): HTML, rendered to PDF by app/domain/pdf.py.
Every value is escaped (Jinja autoescape)."""

from __future__ import annotations

from jinja2 import Environment

from app.domain.pdf import render_pdf

from .bulletin import Bulletin
from .words import HEADLINE_RATES, RATE_WORDS, WORDS, local, percent, period

LISTED = 8  # cases per list on the printed page (the XLSX lists more); the rest are counted

_PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ w.title }} {{ b.month }}</title>
<style>
@page { size: A4 landscape; margin: 10mm; }
body { font-size: 8pt; color: #1f2933; }
h1 { font-size: 16pt; margin: 0 0 2mm; }
h2 { font-size: 10pt; margin: 3mm 0 1mm; border-bottom: 1px solid #0b3d91; }
.meta { color: #4b5563; margin-bottom: 2mm; }
.numbers { display: flex; gap: 1.5mm; }
.number { border: 1px solid #c3ccd8; border-radius: 2mm; padding: 1mm 2mm; flex: 1; }
.number b { display: block; font-size: 11pt; }
.number span, .number small { display: block; color: #6b7280; }
/* One line per row, whatever the language or the length of a name or a description: the
   page holds a fixed number of rows, so it stays one page (a cut text ends in "…"). */
table { border-collapse: collapse; width: 100%; table-layout: fixed; margin: 0.5mm 0; }
th, td { border-bottom: 1px solid #d5dae1; padding: 0.5mm 1.5mm; text-align: left;
         white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.more { color: #6b7280; }
th { background: #dde7f0; }
.cols { display: flex; gap: 5mm; }
.cols > div { flex: 1; min-width: 0; }
</style></head><body>
<h1>{{ w.title }} {{ b.month }}</h1>
<div class="meta">{{ period }} · {{ w.scope }}: {{ b.scope }} ·
{{ w.generated }}: {{ generated }} {{ b.author }}</div>
<h2>{{ w.headline }}</h2>
<div class="numbers">
<div class="number"><b>{{ b.unit_cells }}</b><span>{{ w.unit_cells }}</span></div>
{% for key in counts %}<div class="number"><b>{{ b.counts[key] }}</b><span>{{ w[key] }}</span></div>
{% endfor %}
{% for key in rates %}<div class="number"><b>{{ pct(b.overall[key]) }}</b>
<span>{{ rw[key] }}</span><small>{{ w.previous }} {{ pct(b.previous_overall[key]) }}</small></div>
{% endfor %}
</div>
<h2>{{ w.worst }}</h2>
<table><colgroup><col style="width: 5%"><col style="width: 13%"><col style="width: 22%">
<col span="5" style="width: 12%"></colgroup>
<tr><th>{{ w.rank }}</th><th>{{ w.code }}</th><th>{{ w.name }}</th>
<th>{{ rw.patrol_met_rate }}</th><th>{{ w.previous }}</th><th>{{ rw.valid_report_rate }}</th>
<th>{{ rw.closed_rate }}</th><th>{{ rw.missed_rate }}</th></tr>
{% for r in b.worst.rows %}<tr><td>{{ r.rank }}</td><td>{{ r.code or r.username }}</td>
<td>{{ r.name }}</td><td>{{ pct(r.patrol_met_rate) }}</td>
<td>{{ pct((r.previous or {}).get("patrol_met_rate")) }}</td>
<td>{{ pct(r.valid_report_rate) }}</td><td>{{ pct(r.closed_rate) }}</td>
<td>{{ pct(r.missed_rate) }}</td></tr>
{% else %}<tr><td colspan="8">{{ w.none }}</td></tr>{% endfor %}
</table>
{% set case_columns %}<colgroup><col style="width: 24%"><col style="width: 34%">
<col style="width: 21%"><col style="width: 21%"></colgroup>{% endset %}
<div class="cols">
<div><h2>{{ w.overdue }} ({{ b.overdue | length }})</h2>
<table>{{ case_columns }}<tr><th>{{ w.cell }}</th><th>{{ w.description }}</th>
<th>{{ w.deadline }}</th>
<th>{{ w.overdue_hours }}</th></tr>
{% for h in b.overdue[:listed] %}<tr><td>{{ h.cell_name }}</td><td>{{ h.description }}</td>
<td>{{ when(h.deadline) }}</td><td>{{ h.overdue_hours }}</td></tr>
{% else %}<tr><td colspan="4">{{ w.none }}</td></tr>{% endfor %}
{% if b.overdue | length > listed %}<tr><td colspan="4" class="more">
{{ w.more.format(n=(b.overdue | length) - listed) }}</td></tr>{% endif %}</table></div>
<div><h2>{{ w.missed }} ({{ b.missed | length }})</h2>
<table>{{ case_columns }}<tr><th>{{ w.cell }}</th><th>{{ w.description }}</th>
<th>{{ w.source }}</th>
<th>{{ w.found_at }}</th></tr>
{% for h in b.missed[:listed] %}<tr><td>{{ h.cell_name }}</td><td>{{ h.description }}</td>
<td>{{ w.get("src_" ~ h.source, h.source) }}</td><td>{{ when(h.found_at) }}</td></tr>
{% else %}<tr><td colspan="4">{{ w.none }}</td></tr>{% endfor %}
{% if b.missed | length > listed %}<tr><td colspan="4" class="more">
{{ w.more.format(n=(b.missed | length) - listed) }}</td></tr>{% endif %}</table></div>
</div>
</body></html>
""")


def bulletin_html(data: Bulletin, lang: str) -> str:
    return _PAGE.render(
        lang=lang,
        b=data,
        w=WORDS[lang],
        rw=RATE_WORDS[lang],
        counts=("hotspots_found", "hotspots_closed", "overdue_hotspots", "missed_hotspots"),
        rates=HEADLINE_RATES,
        listed=LISTED,
        pct=percent,
        when=lambda t: local(t, data.zone),
        period=period(data.start, data.end, data.generated_at, data.zone, lang),
        generated=local(data.generated_at, data.zone),
    )


def bulletin_pdf(data: Bulletin, lang: str) -> bytes:
    return render_pdf(bulletin_html(data, lang))
