"""The supervisors' coverage map, built with folium. Folium makes the page and the Leaflet map
(with gridwatch's own copies of Leaflet and the plugins — no CDN); the layers, legend and
controls live in static/gridwatch-map.js, fed by vector tiles and bbox-limited APIs, never by
a province inlined into the page."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import folium
from branca.element import Element, MacroElement
from jinja2 import Template

from app.config import Settings
from map_ui.desk_i18n import DESK_STRINGS
from map_ui.i18n import SHARE_SCALE, STATUS_COLOURS, STRINGS, category_labels
from map_ui.i18n_plan import PLAN_STRINGS

VENDOR = "/static/vendor"
APP = "/static/app"
JS = [
    ("leaflet", f"{VENDOR}/leaflet/dist/leaflet.js"),
    ("vectorgrid", f"{VENDOR}/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js"),
    ("markercluster", f"{VENDOR}/leaflet.markercluster/dist/leaflet.markercluster.js"),
    ("heat", f"{VENDOR}/leaflet.heat/dist/leaflet-heat.js"),
    ("gridwatch_card", f"{APP}/gridwatch-card.js"),
    ("gridwatch", f"{APP}/gridwatch-map.js"),
    ("at_risk", f"{APP}/gridwatch-at-risk.js"),  # after gridwatch-map.js: it hooks into it
]
CSS = [
    ("leaflet_css", f"{VENDOR}/leaflet/dist/leaflet.css"),
    ("cluster_css", f"{VENDOR}/leaflet.markercluster/dist/MarkerCluster.css"),
    ("cluster_default_css", f"{VENDOR}/leaflet.markercluster/dist/MarkerCluster.Default.css"),
    ("gridwatch_css", f"{APP}/gridwatch.css"),
]
TIANDITU = (
    "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
    "&TILECOL={x}&tk="
)


@dataclass
class MapContext:
    lang: str
    bounds: tuple[float, float, float, float]  # minx, miny, maxx, maxy (WGS-84)
    districts: list[tuple[str, str, list[list[float]]]]  # code, name, bounds: the choices
    username: str
    csrf: str
    person_name: str = ""
    can_export: bool = False  # accountability exports and dossiers (SPEC §7)
    scope_name: str | None = None  # the viewer's scope cell, None: everything they may see
    pages: list[str] = field(default_factory=list)  # other pages this reader may open: desk, stats


def basemap(settings: Settings) -> tuple[str, str, list[str]] | None:
    """(URL template, attribution, subdomains) or None for a map without a basemap."""
    kind = settings.basemap.strip()
    if kind in ("", "none"):
        return None
    if kind == "osm":
        return (
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            settings.basemap_attribution or "© OpenStreetMap contributors",
            [],
        )
    if kind == "tianditu":
        return (
            TIANDITU + settings.tianditu_key,
            settings.basemap_attribution or "天地图 © 国家地理信息公共服务平台",
            [str(i) for i in range(8)],
        )
    return kind, settings.basemap_attribution or "basemap", []


def script_json(data: Any) -> str:
    """JSON safe inside a <script> element (no closing tag can be smuggled in)."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


class Layers(MacroElement):
    """Hands the folium-made map to gridwatch-map.js once it exists."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "gridwatchMap.init({{ this._parent.get_name() }}, {{ this.config_json }});"
        "{% endmacro %}"
    )

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self._name = "GridwatchLayers"
        self.config_json = script_json(config)


def build_map(settings: Settings, ctx: MapContext) -> str:
    minx, miny, maxx, maxy = ctx.bounds
    m = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=11,
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
        zoom_control=True,
    )
    # Instance-level asset lists (never the class-level defaults, which point at CDNs).
    m.default_js = JS
    m.default_css = CSS
    layer = basemap(settings)
    if layer is not None:
        url, attribution, subdomains = layer
        folium.TileLayer(
            url,
            attr=attribution,
            name="basemap",
            max_zoom=19,
            subdomains="".join(subdomains) or "abc",
            control=False,
        ).add_to(m)
    desk = DESK_STRINGS[ctx.lang]
    config = {
        "lang": ctx.lang,
        "strings": STRINGS[ctx.lang] | PLAN_STRINGS[ctx.lang],
        "colours": STATUS_COLOURS,
        "share_scale": SHARE_SCALE,
        "bounds": [[miny, minx], [maxy, maxx]],
        "districts": ctx.districts,
        "username": ctx.username,
        "person_name": ctx.person_name,
        "can_export": ctx.can_export,
        "pages": ctx.pages,
        "scope_name": ctx.scope_name,
        "csrf": ctx.csrf,
        "timezone": settings.timezone,
        # The case words are the desk's: one translation of a status, source and category.
        "case_words": {k: v for k, v in desk.items() if k.startswith(("st_", "src_"))},
        "categories": category_labels(ctx.lang),
    }
    root: Any = m.get_root()  # a branca Figure: header, html and script sections
    root.header.add_child(Element(f"<title>{STRINGS[ctx.lang]['title']}</title>"))
    root.header.add_child(Element('<link rel="icon" href="data:,">'))
    Layers(config).add_to(m)  # renders after the map's own script has created the map
    # folium writes a bare <html>: say the page's language (screen readers, the browser's
    # fonts and hyphenation follow it).
    return root.render().replace("<html>", f'<html lang="{ctx.lang}">', 1)
