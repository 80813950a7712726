/* The coverage map's layer of cells about to lapse (GET /api/v1/at-risk?format=geojson): unit
 * cells not yet in a gap whose patrol requirement runs out within GRIDWATCH_AT_RISK_HOURS,
 * outlined (the desk's panel says when and whose). Kept apart from gridwatch-map.js: it hooks
 * in after the map's own layers are made, with its own entry in a layer control. */
(function () {
  "use strict";
  const base = window.gridwatchMap;
  if (!base) return;

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
      // Outlines only, and no clicks of their own: the cell's status colour stays readable,
      // and a click inside the cell opens its card (with its roster) as before.
      style: { color: "#6a3d9a", weight: 3, dashArray: "6 4", fill: false },
      interactive: false,
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
