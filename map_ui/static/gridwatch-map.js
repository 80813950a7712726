/* gridwatch coverage map: layers, legend and controls on a folium-made Leaflet map.
 * Every piece of user text reaches the page through textContent, never innerHTML. */
(function () {
  "use strict";

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else if (k === "style") node.style.cssText = v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.appendChild(typeof c === "string" ? document.createTextNode(c) : c));
    return node;
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(url + " answered " + r.status);
    return r.json();
  }

  function shareColour(share) {  // green → red by the share of cells with gaps
    if (share <= 0.05) return "#1a9850";
    if (share <= 0.15) return "#a6d96a";
    if (share <= 0.30) return "#fee08b";
    if (share <= 0.50) return "#fdae61";
    return "#d73027";
  }

  const gridwatchMap = {
    state: { asOf: "", within: "", tilesLoading: 0, tilesLoaded: 0 },

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
          parents: (p) => ({ fill: true, fillColor: shareColour(p.gap_share), fillOpacity: 0.7,
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
      this.hotspots.addTo(map);

      const overlays = {};
      overlays[t.layer_cells] = this.cells;
      overlays[t.layer_hotspots] = this.hotspots;
      overlays[t.layer_sources] = this.sources;
      overlays[t.layer_heat] = this.heat;
      overlays[t.layer_defects] = this.defects;
      L.control.layers({}, overlays, { collapsed: false }).addTo(map);
      this.addLegend();
      this.addBar();
      map.on("moveend", () => this.refreshPoints());
      map.on("overlayadd", () => this.refreshPoints());
      this.refreshPoints();
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
      const q = "bbox=" + this.bbox() + (this.state.within ? "&within=" + encodeURIComponent(this.state.within) : "");
      const jobs = [];
      if (this.map.hasLayer(this.hotspots)) jobs.push(this.loadHotspots(q, stale));
      if (this.map.hasLayer(this.sources)) jobs.push(this.loadSources(q, stale));
      if (this.map.hasLayer(this.heat)) jobs.push(this.loadHeat(q, stale));
      if (this.map.hasLayer(this.defects)) jobs.push(this.loadDefects());
      await Promise.allSettled(jobs);
    },

    async loadHotspots(q, stale) {
      const data = await getJSON("/api/v1/hotspots?open=true&limit=1000&" + q);
      if (stale()) return;
      this.hotspots.clearLayers();
      data.hotspots.forEach((h) => {
        const colour = h.overdue ? this.cfg.colours.overdue_hotspot : this.cfg.colours.open_hotspot;
        const marker = L.circleMarker([h.lat, h.lon], { radius: 8, color: "#222", weight: 1,
                                                         fillColor: colour, fillOpacity: 0.9 });
        marker.bindPopup(() => this.hotspotCard(h));
        this.hotspots.addLayer(marker);
      });
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
          el("h3", { text: p.name }), el("div", { text: p.type_label + " · " + (p.cell_code || "") })]));
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

    hotspotCard(h) {
      const t = this.cfg.strings;
      return el("div", { class: "gw-card", "data-testid": "hotspot-card" }, [
        el("h3", { text: (h.category || "") + " · " + h.status }),
        el("div", { class: "desc", text: h.description }),
        el("div", { text: t.deadline + ": " + (h.deadline ? new Date(h.deadline).toLocaleString() : "-")
                          + (h.overdue ? " (" + t.overdue + ")" : "") }),
      ]);
    },

    async showCellAt(latlng) {
      const where = "lat=" + latlng.lat.toFixed(7) + "&lon=" + latlng.lng.toFixed(7)
        + (this.state.asOf ? "&as_of=" + encodeURIComponent(this.state.asOf) : "");
      let content;
      try {
        const found = await getJSON("/api/v1/cells/locate?" + where);
        const card = await getJSON("/api/v1/cells/" + encodeURIComponent(found.code) + "/card" + this.query());
        content = this.cellCard(card);
      } catch (err) {
        // No unit cell here, or one outside your scope, or the server is unreachable: say so.
        content = el("div", { class: "gw-card", text: String(err.message || err) });
      }
      L.popup({ maxWidth: 360 }).setLatLng(latlng).setContent(content).openOn(this.map);
    },

    cellCard(c) {
      const t = this.cfg.strings;
      const reasons = el("div", { class: "reasons" }, c.reasons.map((r) =>
        el("span", { text: t[r] || r, style: "background:" + (this.cfg.colours[r] || "#777") })));
      const people = el("ul", {}, c.roster.map((p) =>
        el("li", { text: (t[p.duty] || p.duty) + ": " + p.name + " " + (p.phone || "") })));
      const hotspots = el("ul", {}, c.hotspots.map((h) =>
        el("li", { class: "desc", text: h.description + (h.overdue ? " (" + t.overdue + ")" : "") })));
      return el("div", { class: "gw-card", "data-testid": "cell-card" }, [
        el("h3", { text: c.name + " (" + c.code + ")" }),
        reasons,
        el("div", { text: t.last_patrol + ": " + (c.last_patrol_at ? new Date(c.last_patrol_at).toLocaleString() : t.never) }),
        people,
        c.hotspots.length ? el("div", { text: t.hotspots + ":" }) : el("span"),
        hotspots,
      ]);
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
        box.appendChild(el("div", { text: t.share_with_gaps + ": ≤5% · 15% · 30% · 50% · >50%" }));
        return box;
      };
      legend.addTo(this.map);
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
      district.addEventListener("change", () => { this.state.within = district.value; this.redraw(); });
      const print = el("button", { type: "button", text: t.print });
      print.addEventListener("click", () => window.print());
      const other = this.cfg.lang === "zh" ? "en" : "zh";
      const lang = el("a", { href: "?lang=" + other, text: t.switch_lang });
      const logout = el("form", { method: "post", action: "/logout", style: "margin:0" }, [
        el("input", { type: "hidden", name: "csrf", value: this.cfg.csrf }),
        el("button", { type: "submit", text: t.sign_out + " (" + this.cfg.username + ")" })]);
      const bar = el("div", { class: "gw-bar" }, [
        el("label", {}, [t.as_of, asOf]), el("label", {}, [t.district, district]), print, lang, logout]);
      L.DomEvent.disableClickPropagation(bar);
      this.map.getContainer().appendChild(bar);
    },

    redraw() {
      this.cells.setUrl(this.tileUrl());
      this.refreshPoints();
    },
  };

  window.gridwatchMap = gridwatchMap;
})();
