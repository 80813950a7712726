"""The map page's assets and basemap come from settings and gridwatch itself, never a CDN."""

import json
import re

from app.config import Settings
from app.domain.categories import CATEGORIES
from map_ui.builder import MapContext, build_map, script_json
from map_ui.i18n import category_labels

CTX = MapContext(
    lang="zh",
    bounds=(113.7, 35.2, 114.1, 35.5),
    districts=[("410702", "红旗区")],
    username="sup",
    csrf="token",
)


def external_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html)


def test_no_basemap_means_no_external_url_at_all() -> None:
    html = build_map(Settings(basemap="none"), CTX)
    assert external_urls(html) == []
    assert "https://" not in html and "cdn" not in html.lower()
    assert "/static/vendor/leaflet/dist/leaflet.js" in html


def has(html: str, text: str) -> bool:
    """Folium writes tile options as ASCII-escaped JSON."""
    return text in html or json.dumps(text)[1:-1] in html


def test_basemaps_carry_their_attribution() -> None:
    osm = build_map(Settings(basemap="osm"), CTX)
    assert "tile.openstreetmap.org" in osm and "OpenStreetMap contributors" in osm
    tdt = build_map(Settings(basemap="tianditu", tianditu_key="KEY123"), CTX)
    assert has(tdt, "tianditu.gov.cn/vec_w") and has(tdt, "tk=KEY123") and has(tdt, "天地图")
    intranet = build_map(
        Settings(
            basemap="https://tiles.gov.example/{z}/{x}/{y}.png", basemap_attribution="市测绘院"
        ),
        CTX,
    )
    assert has(intranet, "tiles.gov.example") and has(intranet, "市测绘院")


def test_config_cannot_close_the_script_element() -> None:
    assert "</script>" not in script_json({"name": "</script><script>alert(1)</script>"})


def test_english_pages_name_every_category_in_english_not_by_its_code() -> None:
    labels = category_labels("en")
    assert labels.keys() == CATEGORIES.keys()
    assert all(label.isascii() for label in labels.values())
    assert labels["voc_enterprise"] == "VOC-emitting firm" and labels["odor"] == "odour nuisance"
