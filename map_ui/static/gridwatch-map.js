/* gridwatch coverage map: layers, legend and controls on a folium-made Leaflet map.
 * Every piece of user text reaches the page through textContent, never innerHTML.
 * Every layer follows the chosen instant and area: the tiles through their URL, the point
 * layers ("feeds": cases, sources, heat, defects, area labels) through refreshPoints(). A new
 * layer is one more entry of `feeds`. */
(function () {
  "use strict";

  const { el, words, caseCard, cellCard } = window.gridwatchCard;
  const LEAF_ZOOM = 13;  // app/domain/supervision/tiles.py: unit cells from here on

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) throw Object.assign(new Error(url + " answered " + r.status), { status: r.status });
    return r.json();
  }

  // A naive local date-time ("2026-11-20T10:00") moved by whole days, still naive: the server
  // reads both ends in its own time zone.
  function shiftLocal(local, days) {
    const d = new Date(local + "Z");
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 16);
  }

  const gridwatchMap = {
    state: { asOf: "", within: "", tilesLoading: 0, tilesLoaded: 0, pointsLoaded: 0, cardsLoaded: 0 },

    init(map, cfg) {
      this.map = map;
      this.cfg = cfg;
      const t = cfg.strings;
      map.getContainer().setAttribute("data-testid", "coverage-map");
      map.setMinZoom(4);
      map.setMaxZoom(19);  // there may be no basemap to set it
      map.fitBounds(cfg.bounds);

      this.cells = L.vectorGrid.protobuf(this.tileUrl(), {
        rendererFactory: L.canvas.tile,
        interactive: false,  // clicks go through showCellAt; VectorGrid 1.3 hit-testing breaks on Leaflet 1.9
        maxNativeZoom: 18,
        getFeatureId: (f) => f.properties.code,
        vectorTileLayerStyles: {
          cells: (p) => ({ fill: true, fillColor: cfg.colours[p.status] || "#999", fillOpacity: 0.75,
                           color: "#444", weight: 0.6 }),
          parents: (p) => ({ fill: true, fillColor: this.shareColour(p.gap_share), fillOpacity: 0.7,
                             color: "#222", weight: 1.2 }),
        },
      });
      this.cells.on("loading", () => { this.state.tilesLoading += 1; });
      this.cells.on("load", () => { this.state.tilesLoaded += 1; });
      this.cells.addTo(map);
      // Clicks are resolved by the server (the unit cell covering the point, SPEC §2) rather
      // than by hit-testing canvas tiles: exact on shared edges, and the same at every zoom.
      map.on("click", (e) => { if (map.hasLayer(this.cells)) this.showCellAt(e.latlng); });

      this.hotspots = L.markerClusterGroup({ maxClusterRadius: 40 });
      this.sources = L.layerGroup();
      this.heat = L.heatLayer([], { radius: 18, blur: 15, maxZoom: 15 });
      this.defects = L.geoJSON(null, { style: { color: "#d7191c", weight: 2, fillOpacity: 0.4 } });
      this.areas = L.layerGroup();
      this.hotspots.addTo(map);
      this.areas.addTo(map);

      this.feeds = [
        { layer: this.hotspots, load: (q, stale) => this.loadHotspots(q, stale) },
        { layer: this.sources, load: (q, stale) => this.loadSources(q, stale) },
        { layer: this.heat, load: (q, stale) => this.loadHeat(q, stale) },
        { layer: this.defects, load: () => this.loadDefects() },
        { layer: this.areas, load: (q, stale) => this.loadAreas(q, stale) },
      ];
      const overlays = {};
      overlays[t.layer_cells] = this.cells;
      overlays[t.layer_areas] = this.areas;
      overlays[t.layer_hotspots] = this.hotspots;
      overlays[t.layer_sources] = this.sources;
      overlays[t.layer_heat] = this.heat;
      overlays[t.layer_defects] = this.defects;
      L.control.layers({}, overlays, { collapsed: false }).addTo(map);
      this.addLegend();
      this.addBar();
      this.addPrintHead();
      this.loadTotal().catch(() => {});
      map.on("moveend", () => this.refreshPoints());
      map.on("overlayadd", () => this.refreshPoints());
      map.on("popupclose", (e) => { if (this.card && e.popup === this.card.popup) this.card = null; });
      this.refreshPoints();
    },

    shareColour(share) {  // green → red by the share of cells with gaps (map_ui/i18n.py SHARE_SCALE)
      const scale = this.cfg.share_scale;
      const band = scale.find(([upTo]) => share <= upTo) || scale[scale.length - 1];
      return band[1];
    },

    query() {
      const q = new URLSearchParams();
      if (this.state.asOf) q.set("as_of", this.state.asOf);
      if (this.state.within) q.set("within", this.state.within);
      const s = q.toString();
      return s ? "?" + s : "";
    },

    tileUrl() { return "/tiles/cells/{z}/{x}/{y}.pbf" + this.query(); },

    bbox() {  // Leaflet does not wrap the view: clamp it to the globe
      const b = this.map.getBounds();
      const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
      return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
              clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)]
        .map((v) => v.toFixed(5)).join(",");
    },

    async refreshPoints() {
      const round = (this.state.round = (this.state.round || 0) + 1);
      const stale = () => round !== this.state.round;  // a newer refresh has started
      const q = new URLSearchParams({ bbox: this.bbox() });
      if (this.state.within) q.set("within", this.state.within);
      if (this.state.asOf) q.set("as_of", this.state.asOf);
      const jobs = this.feeds.filter((f) => this.map.hasLayer(f.layer)).map((f) => f.load(q.toString(), stale));
      await Promise.allSettled(jobs);
      if (!stale()) this.state.pointsLoaded += 1;
    },

    async loadHotspots(q, stale) {
      // open=true with as_of: the cases open AT that instant, read from their history
      const data = await getJSON("/api/v1/hotspots?open=true&limit=1000&" + q);
      if (stale()) return;
      const markers = data.hotspots.map((h) => {
        const overdue = h.at ? h.at.overdue : h.overdue;
        const colour = overdue ? this.cfg.colours.overdue_hotspot : this.cfg.colours.open_hotspot;
        const marker = L.circleMarker([h.lat, h.lon], { radius: 8, color: "#222", weight: 1,
                                                         fillColor: colour, fillOpacity: 0.9, hotspotId: h.id });
        marker.bindPopup(() => caseCard(this.cfg, h));
        return marker;
      });
      // One swap, in bulk: the cluster layer re-clusters once, also mid-animation.
      this.hotspots.clearLayers();
      this.hotspots.addLayers(markers);
    },

    async loadSources(q, stale) {
      const data = await getJSON("/api/v1/sources?format=geojson&limit=5000&" + q);
      if (stale()) return;
      this.sources.clearLayers();
      data.features.forEach((f) => {
        const p = f.properties;
        const marker = L.circleMarker([p.lat, p.lon], { radius: 6, color: "#08519c", weight: 2,
                                                         fillColor: "#6baed6", fillOpacity: 0.9 });
        marker.bindPopup(() => el("div", { class: "gw-card" }, [
          el("h3", { text: p.name }), el("div", { text: words(this.cfg).category(p.type) + " · " + (p.cell_code || "") })]));
        this.sources.addLayer(marker);
      });
    },

    async loadHeat(q, stale) {
      const data = await getJSON("/api/v1/reports/heat?days=7&" + q);
      if (!stale()) this.heat.setLatLngs(data.points);
    },

    async loadDefects() {
      const scope = this.state.within ? "?within=" + encodeURIComponent(this.state.within) : "";
      const data = await getJSON("/api/v1/grid/defects" + scope);
      this.defects.clearLayers();
      this.defects.addData(data);
    },

    // The city view: each area the tiles colour at this zoom, labelled with its name and how
    // many of its unit cells have a gap (the server's roll-up, at the chosen instant).
    async loadAreas(q, stale) {
      const zoom = Math.round(this.map.getZoom());
      if (zoom >= LEAF_ZOOM) { this.areas.clearLayers(); return; }
      const data = await getJSON("/api/v1/gaps/rollup?zoom=" + zoom + "&" + q);
      if (stale()) return;
      const w = words(this.cfg);
      this.areas.clearLayers();
      const labels = data.parents.map((a) => {
        const label = el("div", { class: "gw-area", "data-code": a.code, "data-gaps": String(a.with_gaps),
                                  "data-cells": String(a.leaf_cells) }, [
          el("b", { text: a.name }),
          el("span", { text: w.format(this.cfg.strings.area_counts, { gaps: a.with_gaps, cells: a.leaf_cells }) }),
        ]);
        const icon = L.divIcon({ className: "gw-area-icon", html: label, iconSize: null });
        this.areas.addLayer(L.marker([a.lat, a.lon], { icon, interactive: false, keyboard: false }));
        return { label, size: a.leaf_cells };
      });
      // Where labels would overlap, the larger area keeps its label; zooming in shows the rest.
      const kept = [];
      labels.sort((a, b) => b.size - a.size).forEach(({ label }) => {
        const r = label.getBoundingClientRect();
        const clash = kept.some((k) => r.left < k.right && k.left < r.right && r.top < k.bottom && k.top < r.bottom);
        if (clash) label.classList.add("gw-area-hidden");
        else kept.push(r);
      });
    },

    async showCellAt(latlng) {
      const where = "lat=" + latlng.lat.toFixed(7) + "&lon=" + latlng.lng.toFixed(7)
        + (this.state.asOf ? "&as_of=" + encodeURIComponent(this.state.asOf) : "");
      const room = this.map.getSize().y - 160;  // the bar above, the tip below
      const popup = L.popup({ maxWidth: 440, minWidth: 320, maxHeight: Math.max(240, Math.min(720, room)),
                              autoPanPadding: [20, 60] })
        .setLatLng(latlng).setContent(el("div", { class: "gw-card", text: this.cfg.strings.loading }));
      popup.openOn(this.map);
      try {
        const found = await getJSON("/api/v1/cells/locate?" + where);
        this.card = { popup, code: found.code };
        await this.refreshCard();
      } catch (err) {
        // No unit cell here, or one outside your scope (both 404), or the server is
        // unreachable: say so in the page's language.
        const t = this.cfg.strings;
        popup.setContent(el("div", { class: "gw-card", "data-testid": "cell-not-found",
                                     text: err.status === 404 ? t.no_cell_here : t.load_failed }));
      }
    },

    // The open card follows the chosen instant; it closes when the chosen area excludes it.
    async refreshCard() {
      const open = this.card;
      if (!open) return;
      const q = new URLSearchParams();
      if (this.state.asOf) q.set("as_of", this.state.asOf);
      const card = await getJSON("/api/v1/cells/" + encodeURIComponent(open.code) + "/card?" + q.toString());
      if (this.card !== open) return;  // closed or replaced meanwhile
      if (this.state.within && !card.ancestors.includes(this.state.within)) {
        this.map.closePopup(open.popup);
        return;
      }
      open.popup.setContent(cellCard(this.cfg, card));
      open.popup.update();
      this.state.cardsLoaded += 1;
    },

    addLegend() {
      const t = this.cfg.strings;
      const legend = L.control({ position: "bottomright" });
      legend.onAdd = () => {
        const box = el("div", { class: "gw-legend", "data-testid": "map-legend" }, [el("strong", { text: t.legend })]);
        Object.entries(this.cfg.colours).forEach(([status, colour]) => {
          box.appendChild(el("div", { "data-status": status, "data-colour": colour },
                             [el("i", { style: "background:" + colour }), t[status] || status]));
        });
        box.appendChild(el("div", { class: "gw-legend-sub", text: t.share_with_gaps }));
        const bands = el("div", { class: "gw-share" });
        this.cfg.share_scale.forEach(([, colour], i) => {
          bands.appendChild(el("span", { "data-share-band": String(i), "data-colour": colour },
                               [el("i", { style: "background:" + colour }), t["share_band_" + i]]));
        });
        box.appendChild(bands);
        this.total = el("div", { class: "gw-total", "data-testid": "map-total" });
        box.appendChild(this.total);
        return box;
      };
      legend.addTo(this.map);
    },

    // The total of the chosen area (or the whole scope) at the chosen instant.
    async loadTotal() {
      const round = (this.state.totalRound = (this.state.totalRound || 0) + 1);
      const data = await getJSON("/api/v1/gaps/rollup" + this.query());
      if (round !== this.state.totalRound) return;
      const gaps = data.parents.reduce((n, a) => n + a.with_gaps, 0);
      const cells = data.parents.reduce((n, a) => n + a.leaf_cells, 0);
      const t = this.cfg.strings;
      this.total.textContent = t.total + " · " + this.scopeName() + ": "
        + words(this.cfg).format(t.area_counts, { gaps, cells });
      this.total.dataset.gaps = String(gaps);
      this.total.dataset.cells = String(cells);
    },

    addBar() {
      const t = this.cfg.strings;
      const asOf = el("input", { type: "datetime-local", "data-testid": "map-as-of" });
      asOf.addEventListener("change", () => {
        this.state.asOf = asOf.value;  // local time; the server reads it in its time zone
        this.redraw();
      });
      const district = el("select", { "data-testid": "map-district" },
        [el("option", { value: "", text: t.all })].concat(
          this.cfg.districts.map(([code, name]) => el("option", { value: code, text: name }))));
      district.addEventListener("change", () => {
        this.state.within = district.value;
        const chosen = this.cfg.districts.find(([code]) => code === district.value);
        this.map.fitBounds(chosen ? chosen[2] : this.cfg.bounds);  // its moveend refreshes the points
        this.redraw();
      });
      const exportButton = el("button", { type: "button", text: t.export, "data-testid": "map-export",
                                          "aria-expanded": "false" });
      this.exportMenu = el("div", { class: "gw-export", "data-testid": "map-export-menu", hidden: "" });
      exportButton.addEventListener("click", () => {
        const show = this.exportMenu.hidden;
        if (show) this.fillExportMenu();
        this.exportMenu.hidden = !show;
        exportButton.setAttribute("aria-expanded", String(show));
      });
      const other = this.cfg.lang === "zh" ? "en" : "zh";
      const lang = el("a", { href: "?lang=" + other, text: t.switch_lang });
      // The other pages this reader may open (the desk, the rankings), named in their language.
      const pages = (this.cfg.pages || []).map((page) =>
        el("a", { href: "/" + page, text: t[page + "_link"], "data-testid": "nav-" + page }));
      const logout = el("form", { method: "post", action: "/logout", style: "margin:0" }, [
        el("input", { type: "hidden", name: "csrf", value: this.cfg.csrf }),
        el("button", { type: "submit", text: t.sign_out + " (" + this.cfg.username + ")" })]);
      const bar = el("div", { class: "gw-bar" }, [
        el("label", {}, [t.as_of, asOf]), el("label", {}, [t.district, district]),
        el("span", { class: "gw-export-wrap" }, [exportButton, this.exportMenu]), ...pages, lang,
        logout]);
      L.DomEvent.disableClickPropagation(bar);
      L.DomEvent.disableScrollPropagation(bar);
      this.map.getContainer().appendChild(bar);
    },

    scopeName() {
      const chosen = this.cfg.districts.find(([code]) => code === this.state.within);
      return chosen ? chosen[1] : (this.cfg.scope_name || this.cfg.strings.whole_area);
    },

    timeText() {
      const w = words(this.cfg);
      return this.state.asOf ? this.state.asOf.replace("T", " ") : w.when(new Date().toISOString()) + " (" + w.t.time_now + ")";
    },

    // The downloads for what the map shows now: the chosen area and instant.
    fillExportMenu() {
      const t = this.cfg.strings;
      const w = words(this.cfg);
      const to = this.state.asOf || new Date().toISOString();
      const from = this.state.asOf ? shiftLocal(this.state.asOf, -30) : new Date(Date.now() - 30 * 86400e3).toISOString();
      const common = {};
      if (this.state.within) common.within = this.state.within;
      const link = (testid, text, path, params) => el("a", {
        "data-testid": testid, download: "", text,
        href: path + "?" + new URLSearchParams({ ...common, ...params }).toString() });
      const gaps = { lang: this.cfg.lang };
      if (this.state.asOf) gaps.as_of = this.state.asOf;
      this.exportMenu.replaceChildren(...[
        el("div", { class: "gw-covers", text: w.format(t.export_covers, { scope: this.scopeName(), time: this.timeText() }) }),
        this.cfg.can_export
          ? link("map-export-accountability", t.export_accountability, "/api/v1/exports/accountability",
                 { from, to, format: "xlsx", lang: this.cfg.lang })
          : null,
        link("map-export-gaps", t.export_gaps_xlsx, "/api/v1/gaps", { ...gaps, format: "xlsx" }),
        link("map-export-gaps-csv", t.export_gaps_csv, "/api/v1/gaps", { ...gaps, format: "csv" }),
        el("button", { type: "button", "data-testid": "map-print", text: t.export_print }),
      ].filter(Boolean));
      this.exportMenu.querySelector("[data-testid=map-print]").addEventListener("click", () => {
        this.exportMenu.hidden = true;
        this.fillPrintHead();
        window.print();
      });
    },

    // What a printout says about itself: title, scope, instant, who printed it (the legend
    // prints with the map).
    addPrintHead() {
      this.printHead = el("div", { class: "gw-print-head", "data-testid": "map-print-head" });
      document.body.insertBefore(this.printHead, document.body.firstChild);
      this.fillPrintHead();
      window.addEventListener("beforeprint", () => this.fillPrintHead());
    },

    fillPrintHead() {
      const t = this.cfg.strings;
      this.printHead.replaceChildren(
        el("h1", { text: t.title }),
        el("div", { text: t.scope + ": " + this.scopeName() + " · " + t.as_of + ": " + this.timeText()
                          + " · " + t.print_by + ": " + this.cfg.person_name + " (" + this.cfg.username + ")" }));
    },

    redraw() {
      this.cells.setUrl(this.tileUrl());
      this.refreshPoints();
      this.refreshCard().catch(() => {});
      this.loadTotal().catch(() => {});
      this.fillPrintHead();
      if (!this.exportMenu.hidden) this.fillExportMenu();
    },
  };

  window.gridwatchMap = gridwatchMap;
})();
