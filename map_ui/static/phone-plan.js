/* The phone's plan of the day (今日待巡): the server orders the signed-in inspector's due cells
 * and sources as a walking route from where the phone is (GET /api/v1/plan); this shows it as
 * a list with live countdowns and a small map (Leaflet, no basemap needed). The last copy is
 * kept in the browser per user, so the plan still shows offline, marked with its age.
 * phone.js says when to refresh (a "gridwatch:refresh" event, with the position). */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const t = cfg.strings;
  const $ = (id) => document.getElementById(id);
  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  const KEY = "gridwatch-plan:" + cfg.username;
  const state = { copy: null, fresh: false, position: null, placed: false, map: null, layer: null };

  function saved() {
    try { return JSON.parse(localStorage.getItem(KEY)); } catch (err) { return null; }
  }
  function save(copy) {
    try { localStorage.setItem(KEY, JSON.stringify(copy)); } catch (err) { /* shown, not kept */ }
  }

  function countdown(item, now) {
    if (!item.due_at) return t.plan_never;
    const ms = new Date(item.due_at).getTime() - now;
    const minutes = Math.floor(Math.abs(ms) / 60000);
    const words = { h: Math.floor(minutes / 60), m: String(minutes % 60).padStart(2, "0") };
    return fmt(ms <= 0 ? t.plan_overdue_by : t.plan_due_in, words);
  }
  const overdue = (item, now) => !item.due_at || new Date(item.due_at).getTime() <= now;
  const label = (item) => (item.kind === "source"
    ? (cfg.source_types[item.type] || item.type) + " · " + item.name + " · " + item.cell_name
    : item.name);

  function ageText() {
    if (!state.copy) return t.plan_unavailable;
    const minutes = Math.floor((Date.now() - state.copy.fetched) / 60000);
    if (state.fresh && minutes < 1) return t.plan_age_fresh;
    const text = minutes < 120 ? fmt(t.plan_age, { n: minutes }) : fmt(t.plan_age_hours, { n: Math.floor(minutes / 60) });
    return text + (state.fresh ? "" : t.plan_offline);
  }

  function tick() {
    const now = Date.now();
    $("plan-age").textContent = ageText();
    document.querySelectorAll("#plan-list [data-due]").forEach((li) => {
      const item = JSON.parse(li.dataset.due);
      li.querySelector(".countdown").textContent = countdown(item, now);
      li.classList.toggle("overdue", overdue(item, now));
    });
  }

  // phone.js opens the form; the server still places the report by its GPS point, and a
  // source stop's report names the source (source_id) so it counts as that inspection.
  function reportFor(item) {
    document.dispatchEvent(new CustomEvent("gridwatch:report-for", {
      detail: { kind: item.kind, ref: item.ref, cell_code: item.cell_code, label: label(item) },
    }));
  }

  function drawMap(items, start) {
    if (typeof L === "undefined") { $("plan-map").hidden = true; return; }  // no Leaflet: the list is enough
    if (!state.map) {
      // No basemap: the stops and the route on a plain background, nothing from other hosts.
      state.map = L.map("plan-map", { zoomControl: false, attributionControl: false });
      state.layer = L.layerGroup().addTo(state.map);
    }
    state.layer.clearLayers();
    const now = Date.now();
    const line = start ? [[start.lat, start.lon]] : [];
    if (start) {
      L.circleMarker([start.lat, start.lon], { radius: 6, color: "#0b3d91", fillColor: "#0b3d91", fillOpacity: 1 })
        .bindTooltip(t.plan_here).addTo(state.layer);
    }
    items.forEach((item) => {
      line.push([item.lat, item.lon]);
      L.marker([item.lat, item.lon], {
        icon: L.divIcon({ className: "plan-stop" + (overdue(item, now) ? " overdue" : ""),
                          html: String(item.order), iconSize: [24, 24] }),
        title: label(item),
      }).on("click", () => reportFor(item))
        // A marker is focusable (role=button); Enter on it opens the form as a tap does.
        .on("keypress", (e) => { if (e.originalEvent.key === "Enter") reportFor(item); })
        .addTo(state.layer);
    });
    if (line.length > 1) L.polyline(line, { color: "#0b3d91", weight: 3, dashArray: "6 6" }).addTo(state.layer);
    if (line.length) state.map.fitBounds(L.latLngBounds(line).pad(0.2), { maxZoom: 16 });
    else state.map.setView([35.3, 113.9], 11);
  }

  function render() {
    const copy = state.copy;
    $("plan-box").hidden = false;
    const items = copy ? copy.plan.items : [];
    const rows = items.map((item) => {
      const li = document.createElement("li");
      li.setAttribute("data-testid", "plan-item");
      li.dataset.cellCode = item.cell_code;
      li.dataset.kind = item.kind;
      li.dataset.ref = item.ref;
      li.dataset.due = JSON.stringify({ due_at: item.due_at });
      const n = document.createElement("span");
      n.className = "stop";
      n.textContent = String(item.order);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = label(item);
      const when = document.createElement("span");
      when.className = "countdown";
      const walk = document.createElement("span");
      walk.className = "walk";
      walk.textContent = item.leg_m ? fmt(t.plan_walk, { m: item.leg_m }) : "";
      // The whole row is a button: a tap (or Enter) opens the report form for this stop.
      const go = document.createElement("button");
      go.type = "button";
      go.className = "go";
      go.setAttribute("data-testid", "plan-report");
      go.append(n, name, when, walk);
      go.addEventListener("click", () => reportFor(item));
      li.append(go);
      return li;
    });
    $("plan-list").replaceChildren(...rows);
    $("plan-empty").hidden = !copy || items.length > 0;
    $("plan-route").textContent = copy && items.length
      ? fmt(t.plan_route, { n: items.length, km: (copy.plan.route_m / 1000).toFixed(1) })
        + (copy.plan.truncated ? " " + fmt(t.plan_truncated, { n: items.length }) : "") : "";
    $("plan-map").hidden = !items.length;
    if (items.length) drawMap(items, copy.plan.start);
    tick();
  }

  let run = 0;
  async function refresh(position) {
    if (position) state.position = position;
    const mine = ++run;
    const q = new URLSearchParams();
    if (state.position) {
      q.set("lat", state.position.latitude.toFixed(6));
      q.set("lon", state.position.longitude.toFixed(6));
    }
    try {
      const r = await fetch("/api/v1/plan?" + q.toString(), { credentials: "same-origin" });
      if (!r.ok) throw new Error(String(r.status));
      const plan = await r.json();
      if (mine !== run) return;
      state.copy = { fetched: Date.now(), plan };
      state.fresh = true;
      save(state.copy);
    } catch (err) {
      if (mine !== run) return;
      state.fresh = false;  // offline (or the server is away): the last copy, with its age
      state.copy = state.copy || saved();
    }
    render();
  }

  document.addEventListener("gridwatch:refresh", (e) => refresh(e.detail && e.detail.position));
  // The first position fix orders the route from where the inspector stands.
  document.addEventListener("gridwatch:position", (e) => {
    if (!state.placed) { state.placed = true; refresh(e.detail.position); }
  });
  setInterval(tick, 30000);
  // The last copy at once; phone.js asks for a fresh one as it starts.
  state.copy = saved();
  if (state.copy) render();
})();
