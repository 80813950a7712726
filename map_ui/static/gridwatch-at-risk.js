/* The coverage map's layer of cells about to lapse (GET /api/v1/at-risk?format=geojson): unit
 * cells not yet in a gap whose patrol requirement runs out within GRIDWATCH_AT_RISK_HOURS,
 * outlined (the desk's panel says when and whose). Kept apart from gridwatch-map.js: it hooks
 * in after the map's own layers are made, with its own entry in a layer control. */
(function () {
  "use strict";
  const base = window.gridwatchMap;
  if (!base) return;
  const RISK_COLOUR = "#0091c8";

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
      // A colour of its own (no status class uses it) and dashed: not a kind of gap.
      style: { color: RISK_COLOUR, weight: 3, dashArray: "6 4", fill: false },
      interactive: false,
    });
    this.atRisk = layer;
    this.atRiskLoad = () => load();
    const load = async () => {
      if (!map.hasLayer(layer)) return;
      if (this.state.asOf) {  // "about to lapse" is about now: at a past instant it is empty
        layer.clearLayers();
        return;
      }
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
    const legend = document.querySelector("[data-testid=map-legend]");
    if (legend) {  // its row in the legend, after the status classes
      const row = document.createElement("div");
      const swatch = document.createElement("i");
      swatch.style.cssText = `border: 2px dashed ${RISK_COLOUR}; background: transparent`;
      row.append(swatch, document.createTextNode(t.risk_layer || "at risk"));
      row.setAttribute("data-testid", "map-legend-at-risk");
      const sub = legend.querySelector(".gw-legend-sub");
      legend.insertBefore(row, sub);
    }
    map.on("overlayadd", (e) => { if (e.layer === layer) load(); });
    setInterval(() => { if (!document.hidden) load(); }, 60000);
    load();
  };
})();
