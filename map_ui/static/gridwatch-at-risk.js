/* The coverage map's layer of cells about to lapse (GET /api/v1/at-risk?format=geojson): unit
 * cells not yet in a gap whose patrol requirement runs out within GRIDWATCH_AT_RISK_HOURS,
 * outlined, with when and whose. Kept apart from gridwatch-map.js: it hooks in after the map's
 * own layers are made, with its own entry in a layer control. */
(function () {
  "use strict";
  const base = window.gridwatchMap;
  if (!base) return;
  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));

  function left(t, dueAt) {
    const minutes = Math.max(0, Math.floor((new Date(dueAt).getTime() - Date.now()) / 60000));
    return fmt(t.risk_due_in, { h: Math.floor(minutes / 60), m: String(minutes % 60).padStart(2, "0") });
  }

  function card(t, p) {
    const box = document.createElement("div");
    box.setAttribute("data-testid", "at-risk-card");
    const title = document.createElement("strong");
    title.textContent = p.name + " (" + p.cell_code + ")";
    const due = document.createElement("div");
    due.textContent = left(t, p.due_at);
    box.append(title, due);
    p.on_duty.forEach((d) => {
      const line = document.createElement("div");
      line.textContent = (t["duty_" + d.duty] || d.duty) + " · " + d.name + (d.phone ? " · " + d.phone : "");
      box.appendChild(line);
    });
    return box;
  }

  const redraw = base.redraw;
  base.redraw = function (...args) {  // the district filter changed
    const out = redraw.apply(this, args);
    if (this.atRiskLoad) this.atRiskLoad();
    return out;
  };

  const init = base.init;
  base.init = function (map, cfg) {
    init.call(this, map, cfg);
    const t = cfg.strings;
    const layer = L.geoJSON(null, {
      style: { color: "#6a3d9a", weight: 3, dashArray: "6 4", fillColor: "#6a3d9a", fillOpacity: 0.15 },
      onEachFeature: (f, l) => l.bindPopup(() => card(t, f.properties)),
    });
    this.atRisk = layer;
    this.atRiskLoad = () => load();
    const load = async () => {
      if (!map.hasLayer(layer)) return;
      const q = this.state.within ? "&within=" + encodeURIComponent(this.state.within) : "";
      try {
        const r = await fetch("/api/v1/at-risk?format=geojson" + q, { credentials: "same-origin" });
        if (!r.ok) return;
        const data = await r.json();
        layer.clearLayers();
        layer.addData(data);
      } catch (err) { /* the next round tries again */ }
    };
    const overlays = {};
    overlays[t.risk_layer || "at risk"] = layer;
    L.control.layers({}, overlays, { collapsed: false }).addTo(map);
    layer.addTo(map);
    map.on("overlayadd", (e) => { if (e.layer === layer) load(); });
    setInterval(() => { if (!document.hidden) load(); }, 60000);
    load();
  };
})();
