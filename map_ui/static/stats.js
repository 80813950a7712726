/* gridwatch rankings: the indicators per unit for a month or a range, against the period
 * before, sortable, the best and the worst marked; the same query downloads as XLSX/CSV.
 * The query lives in the URL (a link or a reload shows the same ranking). All text from the
 * server goes into the page as text (textContent), never as markup. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const t = cfg.strings;
  const $ = (id) => document.getElementById(id);
  const form = $("query");
  const RATES = ["patrol_met_rate", "rectified_on_time_rate", "closed_rate", "closed_on_time_rate",
    "rework_rate", "extension_rate", "missed_rate", "relapse_rate", "valid_report_rate"];
  const LOWER_IS_BETTER = new Set(["rework_rate", "extension_rate", "missed_rate", "relapse_rate"]);
  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  let rows = [];
  let sortKey = "rank";
  let sortUp = true;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      node.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  // Dates are local calendar days (the server reads a bare date as local midnight).
  function nextMonth(month) {
    const [y, m] = month.split("-").map(Number);
    return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, "0")}`;
  }
  const localDay = (iso) => iso.slice(0, 10);  // the server sends local midnights with offset
  // The last day a period covers: its end is exclusive, the local midnight after that day
  // ("2026-11-01T00:00:00+08:00" ends October: 2026-10-31), as the bulletin prints it.
  function lastDay(iso) {
    const d = new Date(localDay(iso) + "T00:00:00Z");
    if (iso.slice(11, 19) === "00:00:00") d.setUTCDate(d.getUTCDate() - 1);
    return d.toISOString().slice(0, 10);
  }
  // What went wrong, in the page's language (the server's detail is English).
  function failure(status) {
    if (status === 400 || status === 422) return t.bad_query;
    if (status === 403) return t.no_access;
    if (status === 404) return t.no_area;
    return t.unreachable;
  }

  function query() {
    const data = new FormData(form);
    const q = { by: data.get("by") || "district" };
    if (data.get("within")) q.within = data.get("within");
    if (data.get("mode") === "range" && data.get("from") && data.get("to")) {
      q.from = data.get("from");
      q.to = data.get("to");
    } else {
      const month = data.get("month") || cfg.default_month;
      q.from = `${month}-01`;
      q.to = `${nextMonth(month)}-01`;
      q.month = month;
    }
    return q;
  }

  function restore() {
    const p = new URLSearchParams(location.search);
    form.elements.month.value = p.get("month") || cfg.default_month;
    form.elements.from.value = p.get("from") || localDay(cfg.default_from);
    form.elements.to.value = p.get("to") || localDay(cfg.default_to);
    if (p.get("mode") === "range") form.elements.mode.value = "range";
    if (p.get("by")) form.elements.by.value = p.get("by");
    const area = form.elements.within;
    area.append(el("option", { value: "", text: t.all }));
    for (const a of cfg.areas) {
      area.append(el("option", { value: a.code, text: "\u3000".repeat(a.depth) + a.name }));
    }
    if (p.get("within")) area.value = p.get("within");
  }

  function links(q) {
    const api = new URLSearchParams({ from: q.from, to: q.to, by: q.by, compare: "previous" });
    if (q.within) api.set("within", q.within);
    api.set("format", "xlsx");
    $("xlsx").href = "/api/v1/indicators?" + api;
    api.set("format", "csv");
    $("csv").href = "/api/v1/indicators?" + api;
    const monthly = form.elements.mode.value !== "range";
    const month = form.elements.month.value || cfg.default_month;
    for (const format of ["xlsx", "pdf"]) {
      const b = new URLSearchParams({ month, format, lang: cfg.lang });
      if (q.within) b.set("within", q.within);
      const a = $("bulletin-" + format);
      a.href = "/api/v1/bulletin?" + b;
      a.classList.toggle("off", !monthly);
    }
  }

  function percent(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; }

  function change(key, delta) {
    if (delta === null || delta === undefined) return null;
    const points = delta * 100;
    if (Math.abs(points) < 0.05) return el("span", { class: "chg same", text: "＝" });
    const better = LOWER_IS_BETTER.has(key) ? points < 0 : points > 0;
    const arrow = points > 0 ? "▲" : "▼";
    return el("span", { class: "chg " + (better ? "up" : "down"), text: `${arrow}${Math.abs(points).toFixed(1)}` });
  }

  function header() {
    const head = $("head");
    head.replaceChildren();
    const cols = [["rank", t.col_rank], ["name", t["by_" + (form.elements.by.value || "district")] || t.col_unit],
      ...RATES.map((k) => [k, t[k]])];
    for (const [key, label] of cols) {
      const mark = key === sortKey ? (sortUp ? " ↑" : " ↓") : "";
      head.append(el("th", { "data-key": key, title: t.sort_hint, class: RATES.includes(key) ? "num" : null,
        onclick: () => { sortUp = key === sortKey ? !sortUp : key === "rank" || key === "name"; sortKey = key; draw(); } },
        label + mark));
    }
  }

  function value(r, key) {
    if (key === "name") return r.name || "";
    const v = r[key];
    return v === null || v === undefined ? null : v;
  }

  function draw() {
    header();
    const sorted = rows.slice().sort((a, b) => {
      const x = value(a, sortKey);
      const y = value(b, sortKey);
      if (x === y) return a.rank - b.rank;
      if (x === null) return 1;
      if (y === null) return -1;
      const order = typeof x === "string" ? x.localeCompare(y, "zh-CN") : x - y;
      return sortUp ? order : -order;
    });
    const body = $("rows");
    body.replaceChildren();
    for (const r of sorted) {
      const unit = r.code || r.username;
      const tr = el("tr", { class: "row " + (r.standing || ""), "data-testid": "stats-row", "data-unit-code": unit },
        el("td", { class: "rank" }, String(r.rank),
          r.standing ? el("span", { class: "tag " + r.standing, text: t[r.standing] }) : null),
        el("td", { class: "unit" }, el("span", { class: "name", text: r.name || unit }),
          el("span", { class: "code", text: unit })));
      for (const k of RATES) {
        tr.append(el("td", { class: "num" }, percent(r[k]), change(k, r.change && r.change[k])));
      }
      body.append(tr);
    }
  }

  async function load(push) {
    const q = query();
    links(q);
    if (push) {
      const url = new URLSearchParams(q);
      if (form.elements.mode.value === "range") { url.set("mode", "range"); url.delete("month"); }
      history.replaceState(null, "", "?" + url);
    }
    $("summary").textContent = t.loading;
    const api = new URLSearchParams({ from: q.from, to: q.to, by: q.by, compare: "previous" });
    if (q.within) api.set("within", q.within);
    try {
      const r = await fetch("/api/v1/indicators?" + api, { credentials: "same-origin" });
      if (!r.ok) throw Object.assign(new Error("indicators answered " + r.status), { status: r.status });
      const data = await r.json();
      rows = data.rows;
      sortKey = "rank";
      sortUp = true;
      draw();
      const shown = fmt(t.period_shown, { from: localDay(data.from), to: lastDay(data.to) });
      const before = data.previous ? fmt(t.compared, { from: localDay(data.previous.from), to: lastDay(data.previous.to) }) : "";
      $("summary").textContent = rows.length ? `${shown} · ${fmt(t.units, { n: rows.length })} · ${before}` : t.empty;
    } catch (err) {
      rows = [];
      draw();
      $("summary").textContent = fmt(t.error, { detail: failure(err.status) });
    }
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); load(true); });
  form.elements.by.addEventListener("change", () => load(true));
  form.elements.within.addEventListener("change", () => load(true));
  restore();
  load(false);
})();
