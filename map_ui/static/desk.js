/* gridwatch case desk: the command office's closed loop (立案 → 派遣 → 处置 → 核查 → 结案).
 * The list's filters live in the URL (a link or a reload shows the same list); the steps a
 * reader may take come from the server (`allowed_actions`), and every step is sent with the
 * state the reader saw, so a step someone else took meanwhile is reported, never overwritten.
 * All text from the server goes into the page as text (textContent), never as markup. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const t = cfg.strings;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const PAGE = 50;
  const locale = cfg.lang === "zh" ? "zh-CN" : "en-GB";
  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  const paren = (text) => fmt(t.paren, { text });  // （…） in Chinese, " (…)" in English
  const when = (iso) => (iso ? new Date(iso).toLocaleString(locale, { dateStyle: "short", timeStyle: "short" }) : "—");
  const day = (iso) => (iso ? new Date(iso).toLocaleDateString(locale, { month: "2-digit", day: "2-digit" }) : "—");

  // A DOM element with attributes and children (strings become text nodes: never markup).
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
  const statusWord = (s) => t["st_" + s] || s;
  const sourceWord = (s) => t["src_" + s] || s;
  const categoryWord = (c) => cfg.categories[c] || c;
  const caseTitle = (h) => h.description || categoryWord(h.category);
  const flagWords = (flags) => flags.map((f) => t["flag_" + f] || f).join(t.list_sep);
  function detailText(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => (d && d.msg) || JSON.stringify(d)).join("; ");
    return detail === undefined ? "" : JSON.stringify(detail);
  }

  async function api(url, body) {
    const options = { credentials: "same-origin" };
    if (body !== undefined) {
      options.method = "POST";
      options.headers = { "X-CSRF-Token": csrf, "Content-Type": "application/json" };
      options.body = JSON.stringify(body);
    }
    const r = await fetch(url, options);
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      const err = new Error(String(r.status));
      err.status = r.status;
      err.detail = data && data.detail !== undefined ? detailText(data.detail) : r.statusText;
      throw err;
    }
    return data;
  }

  // --- the URL holds the filters ------------------------------------------------------------
  const KEYS = ["status", "source", "within", "assignee", "found_from", "found_to", "overdue", "due", "sort", "offset", "case"];
  function readState() {
    const q = new URLSearchParams(location.search);
    const s = {};
    for (const k of KEYS) if (q.get(k)) s[k] = q.get(k);
    return s;
  }
  let state = readState();
  function writeState(push) {
    const q = new URLSearchParams();
    const lang = new URLSearchParams(location.search).get("lang");
    if (lang) q.set("lang", lang);
    for (const k of KEYS) if (state[k]) q.set(k, state[k]);
    const url = location.pathname + (q.toString() ? "?" + q.toString() : "");
    if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
    const other = new URLSearchParams(q);
    other.set("lang", cfg.lang === "zh" ? "en" : "zh");
    $("switch-lang").href = "?" + other.toString();
  }
  window.addEventListener("popstate", () => { state = readState(); fillForm(); loadList(); showCase(state.case || null); });

  function nextDay(dateText) {  // found_to is inclusive of its day
    const [y, m, d] = dateText.split("-").map(Number);
    const next = new Date(Date.UTC(y, m - 1, d + 1));
    return next.toISOString().slice(0, 10);
  }
  function listQuery() {
    const q = new URLSearchParams({ counts: "true", limit: String(PAGE), offset: state.offset || "0" });
    if (state.status === "open") q.set("open", "true");
    else if (state.status) q.set("status", state.status);
    for (const k of ["source", "within", "assignee", "sort"]) if (state[k]) q.set(k, state[k]);
    if (state.found_from) q.set("found_from", state.found_from);
    if (state.found_to) q.set("found_to", nextDay(state.found_to));
    if (state.overdue) q.set("overdue", "true");
    if (state.due) q.set("due_within_hours", state.due);
    return q;
  }

  // --- the filter form ------------------------------------------------------------------------
  const form = $("filters");
  function options(select, pairs) {
    select.replaceChildren(...pairs.map(([value, label]) => el("option", { value, text: label })));
  }
  options(form.status, [["", t.all], ["open", t.st_open]]
    .concat(cfg.statuses.map((s) => [s, statusWord(s)])));
  options(form.source, [["", t.all]].concat(cfg.sources.map((s) => [s, sourceWord(s)])));
  options(form.within, [["", t.all]].concat(cfg.areas.map((a) => [a.code, (a.depth > 1 ? "　" : "") + a.name])));
  form.within.closest("label").hidden = !cfg.areas.length;
  options(form.sort, ["-created_at", "-found_at", "found_at", "deadline", "-updated_at", "status"]
    .map((s) => [s === "-created_at" ? "" : s, t["sort_" + s]]));
  function fillForm() {
    for (const k of ["status", "source", "within", "assignee", "found_from", "found_to", "sort"]) {
      form[k].value = state[k] || "";
    }
    form.overdue.checked = !!state.overdue;
    form.due.checked = !!state.due;
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = { case: state.case };
    for (const k of ["status", "source", "within", "assignee", "found_from", "found_to", "sort"]) {
      const v = form[k].value.trim();
      if (v) next[k] = v;
    }
    if (form.overdue.checked) next.overdue = "true";
    if (form.due.checked) next.due = "24";
    state = next;
    writeState(true);
    loadList();
  });
  // A choice in a select applies at once; typed fields wait for the search button.
  for (const name of ["status", "source", "within", "sort", "overdue", "due"]) {
    form[name].addEventListener("change", () => form.requestSubmit());
  }
  $("reset").addEventListener("click", () => {
    state = { case: state.case };
    fillForm();
    writeState(true);
    loadList();
  });
  $("prev").addEventListener("click", () => { state.offset = String(Math.max(0, Number(state.offset || 0) - PAGE)); writeState(true); loadList(); });
  $("next").addEventListener("click", () => { state.offset = String(Number(state.offset || 0) + PAGE); writeState(true); loadList(); });

  // --- the list ----------------------------------------------------------------------------
  function deadlineCell(h) {
    if (!h.deadline) return el("td", { text: "—" });
    const hours = (new Date(h.deadline) - Date.now()) / 3600000;
    const running = h.status === "dispatched" || h.status === "rectifying";
    let cls = null;
    let extra = "";
    if (running && h.overdue) { cls = "late"; extra = " · " + t.overdue; }
    else if (running && hours < 24) { cls = "soonish"; extra = " · " + t.due_in + " " + Math.max(0, Math.floor(hours)) + t.hours; }
    return el("td", { class: cls, title: when(h.deadline) }, day(h.deadline) + extra);
  }
  function row(h) {
    const tr = el("tr", {
      class: "row" + (h.id === state.case ? " on" : ""), tabindex: "0",
      "data-testid": "case-row", "data-case-id": h.id, "data-status": h.status,
      onclick: () => pick(h.id),
      onkeydown: (ev) => { if (ev.key === "Enter") pick(h.id); },
    },
    el("td", { title: when(h.found_at) }, day(h.found_at)),
    el("td", {},
      el("span", { class: "title", title: caseTitle(h) }, caseTitle(h)),
      el("span", { class: "sub" }, sourceWord(h.source) + " · " + (h.cell_code || t.outside_cells))),
    el("td", {}, el("span", { class: "status st-" + h.status }, statusWord(h.status))),
    el("td", { title: h.assignee || "" }, h.assignee_name || h.assignee || "—"),
    deadlineCell(h));
    return tr;
  }
  let listRun = 0;
  async function loadList() {
    const run = ++listRun;
    let data;
    try {
      data = await api("/api/v1/hotspots?" + listQuery().toString());
    } catch (err) {
      if (run === listRun) $("total").textContent = t.load_failed + " " + (err.detail || err.message);
      return;
    }
    if (run !== listRun) return;
    const rows = data.hotspots.map(row);
    $("case-list").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "5", class: "hint", text: t.empty }))]));
    $("total").textContent = fmt(t.total, { n: data.total });
    const offset = Number(state.offset || 0);
    $("page").textContent = data.hotspots.length ? fmt(t.page, { from: offset + 1, to: offset + data.hotspots.length }) : "";
    $("prev").disabled = offset === 0;
    $("next").disabled = data.next_offset === null;
    tabs(data.counts);
  }
  function tabs(counts) {
    const all = Object.values(counts).reduce((a, b) => a + b, 0);
    const make = (value, label, n) => el("button", {
      type: "button", role: "tab", class: (state.status || "") === value ? "on" : null,
      "data-testid": "case-tab", "data-status": value,
      onclick: () => { form.status.value = value; form.requestSubmit(); },
    }, label + " " + n);
    $("tabs").replaceChildren(make("", t.all, all), ...cfg.statuses.map((s) => make(s, statusWord(s), counts[s] || 0)));
  }

  // --- reminders: overdue and due within 24 h, soonest first ---------------------------------
  async function reminders() {
    const lists = [
      ["overdue-list", "overdue-count", "overdue=true"],
      ["soon-list", "soon-count", "due_within_hours=24"],
    ];
    for (const [listId, countId, filter] of lists) {
      let data;
      try { data = await api("/api/v1/hotspots?counts=true&sort=deadline&limit=20&" + filter); } catch (err) { continue; }
      $(countId).textContent = String(data.total);
      const items = data.hotspots.map((h) => el("li", {
        "data-testid": "reminder-case", "data-case-id": h.id, title: when(h.deadline),
        onclick: () => pick(h.id),
      }, day(h.deadline) + " · " + caseTitle(h) + (h.assignee ? " · " + (h.assignee_name || h.assignee) : "")));
      $(listId).replaceChildren(...(items.length ? items : [el("li", { class: "none", text: t.nothing_due })]));
    }
  }

  // --- one case ------------------------------------------------------------------------------
  let current = null;  // { hotspot, file }
  let map = null;
  function pick(id) {
    state.case = id;
    writeState(true);
    document.querySelectorAll("#case-list tr.row").forEach((tr) => tr.classList.toggle("on", tr.dataset.caseId === id));
    showCase(id);
  }
  let caseRun = 0;
  async function showCase(id, message) {
    const run = ++caseRun;
    if (!id) { current = null; $("detail").replaceChildren(el("p", { class: "hint", text: t.pick_case })); return; }
    let hotspot, file;
    try {
      [hotspot, file] = await Promise.all([
        api("/api/v1/hotspots/" + encodeURIComponent(id)),
        api("/api/v1/hotspots/" + encodeURIComponent(id) + "/file"),
      ]);
    } catch (err) {
      if (run === caseRun) $("detail").replaceChildren(el("p", { class: "message bad", "data-testid": "case-message", text: t.load_failed + " " + (err.detail || err.message) }));
      return;
    }
    if (run !== caseRun) return;
    current = { hotspot, file };
    render(message);
  }

  function facts(h, file) {
    const pairs = [
      [t.status, el("span", { class: "status st-" + h.status, "data-testid": "case-status" }, statusWord(h.status))],
      [t.source, sourceWord(h.source)],
      [t.found_at, when(h.found_at)],
      [t.reported_by, personLabel(h.created_by, file)],
      [t.cell, cellLabel(file.cell)],
      [t.assignee, h.assignee ? personLabel(h.assignee, file) + (file.assignee && file.assignee.phone ? " · " + file.assignee.phone : "") : "—"],
      [t.deadline, h.deadline ? when(h.deadline) + (h.overdue ? " · " + t.overdue : "") : "—"],
      [t.reworks + " / " + t.extensions + " / " + t.reopens, h.reworks + " / " + h.extensions + " / " + h.reopens],
    ];
    const dl = el("dl", { class: "facts" });
    for (const [k, v] of pairs) dl.append(el("dt", { text: k }), el("dd", { class: k === t.deadline && h.overdue ? "late" : null }, v));
    return dl;
  }
  const personLabel = (username, file) => (username && file.names[username] ? file.names[username] + paren(username) : username || "—");
  function cellLabel(cell) {
    if (!cell) return t.outside_cells;
    if (!cell.name) return cell.code;
    return cell.ancestors.slice(1).concat([cell.name]).join(" / ") + " · " + cell.code;
  }

  function flagsBanner(file) {
    const finding = file.reports.find((r) => r.role === "finding");
    if (!finding || !finding.flags.length) return null;
    const reviewed = finding.counted;
    return el("p", { class: "flags" + (reviewed ? " reviewed" : ""), "data-testid": "case-flags" },
      t.flags + " " + flagWords(finding.flags) + (reviewed ? paren(t.flags_reviewed) : ""));
  }

  function photos(file) {
    const figures = [];
    for (const r of file.reports) {
      for (const p of r.photos) {
        const img = el("img", { src: p.display_url, alt: (t[r.role] || r.role) + " · " + when(r.observed_at), loading: "lazy" });
        figures.push(el("figure", { "data-testid": "case-photo", "data-role": r.role },
          el("a", { href: p.url, target: "_blank", rel: "noopener", title: t.original }, img),
          el("figcaption", {}, (t[r.role] || r.role) + " · " + r.reporter + " · " + day(r.observed_at))));
      }
    }
    return figures.length ? el("div", { class: "photos" }, ...figures) : el("p", { class: "hint", text: t.no_photos });
  }

  function roster(file) {
    if (file.roster === null) return null;
    if (!file.roster.length) return el("p", { class: "hint", text: t.no_roster });
    return el("ul", { class: "roster", "data-testid": "case-roster" }, ...file.roster.map((d) =>
      el("li", {}, (t["duty_" + d.duty] || d.duty) + t.colon + d.name + paren(d.username) + (d.phone ? " · " + d.phone : ""))));
  }

  function timeline(h, file) {
    const evidence = {};
    for (const r of file.reports) evidence[r.id] = r;
    return el("ol", { class: "timeline", "data-testid": "case-timeline" }, ...h.history.map((e) => {
      let what;
      if (e.action === "create") what = t.ev_create + " " + t.to + " " + statusWord(e.to_status);
      else if (e.action === "extend") what = t.ev_extend;
      else what = statusWord(e.from_status) + " " + t.to + " " + statusWord(e.to_status);
      const parts = [];
      if (e.assignee) parts.push(t.ev_assignee + " " + personLabel(e.assignee, file));
      if (e.deadline) parts.push(t.ev_deadline + " " + when(e.deadline));
      if (e.evidence_report_id) {
        const r = evidence[e.evidence_report_id];
        parts.push(t.ev_evidence + " " + (r ? r.photos.length + " " + t.photos : e.evidence_report_id.slice(0, 8)));
      }
      return el("li", { "data-testid": "case-event", "data-to": e.to_status, "data-action": e.action },
        el("div", { class: "when" }, when(e.at) + " · " + personLabel(e.actor, file)),
        el("div", { class: "what" }, what),
        parts.length ? el("div", {}, parts.join(" · ")) : null,
        e.note ? el("div", { class: "note" }, e.note) : null);
    }));
  }

  // --- actions: exactly the steps the server allows this reader -----------------------------
  function actionKey(status, to) {
    if (to === "rectifying") return status === "rectified" ? "rework" : "start";
    return { accepted: "accept", rejected: "reject", dispatched: "dispatch", extend: "extend",
             closed: "close", reopened: "reopen", rectified: "rectified" }[to] || to;
  }
  const LABEL = { accept: "act_accepted", reject: "act_rejected", dispatch: "act_dispatched",
                  extend: "act_extend", close: "act_closed", rework: "act_rework", reopen: "act_reopened",
                  start: "act_start", rectified: "act_rectified" };
  const NOTE_REQUIRED = ["reject", "rework", "reopen", "rectified"];

  function localInput(date) {  // a Date as the value of <input type=datetime-local>
    const pad = (n) => String(n).padStart(2, "0");
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate())
      + "T" + pad(date.getHours()) + ":" + pad(date.getMinutes());
  }

  function actions(h) {
    const allowed = h.allowed_actions || [];
    const box = el("div", { class: "actions-box" });
    if (!allowed.length) {
      box.append(el("p", { class: "hint", "data-testid": "case-no-actions", text: t.no_actions }));
      return box;
    }
    const buttons = el("div", { class: "actions", "data-testid": "case-actions" });
    const formSlot = el("div");
    for (const to of allowed) {
      const key = actionKey(h.status, to);
      buttons.append(el("button", {
        type: "button", "data-testid": "case-action-" + key, "data-to": to,
        onclick: (ev) => {
          buttons.querySelectorAll("button").forEach((b) => b.classList.toggle("on", b === ev.currentTarget));
          formSlot.replaceChildren(stepForm(h, to, key));
          const first = formSlot.querySelector("select, input, textarea");
          if (first) first.focus();
        },
      }, t[LABEL[key]] || to));
    }
    box.append(buttons, formSlot);
    return box;
  }

  function stepForm(h, to, key) {
    const note = el("textarea", { "data-testid": "case-note", maxlength: "4000", rows: "2" });
    const fields = [];
    let assignee = null;
    let deadline = null;
    if (key === "dispatch") {
      assignee = el("select", { "data-testid": "case-assignee", required: true },
        el("option", { value: "", text: t.loading }));
      fields.push(el("label", {}, t.assignee, assignee));
      api("/api/v1/hotspots/" + encodeURIComponent(h.id) + "/assignees").then((data) => {
        const opts = data.assignees.map((a) => el("option", { value: a.username },
          a.name + paren(a.username) + (a.duties.length ? " · " + a.duties.map((d) => t["duty_" + d] || d).join(t.list_sep) : " · " + (t["role_" + a.role] || a.role))));
        assignee.replaceChildren(el("option", { value: "", text: data.assignees.length ? t.pick_assignee : t.no_assignee }), ...opts);
      }).catch((err) => { assignee.replaceChildren(el("option", { value: "", text: t.load_failed + " " + (err.detail || err.message) })); });
    }
    if (key === "dispatch" || key === "extend") {
      const base = key === "extend" && h.deadline ? new Date(h.deadline) : new Date();
      const proposed = new Date(base.getTime() + 3 * 86400000);
      deadline = el("input", { type: "datetime-local", "data-testid": "case-deadline", required: true, value: localInput(proposed) });
      fields.push(el("label", {}, t.deadline_label, deadline));
    }
    fields.push(el("label", {}, t.note + (NOTE_REQUIRED.includes(key) ? " *" : ""), note));
    const submit = el("button", { type: "submit", "data-testid": "case-submit" }, t.submit + t.colon + t[LABEL[key]]);
    const cancel = el("button", { type: "button", onclick: () => render() }, t.cancel);
    const f = el("form", { class: "step-form", "data-testid": "case-step-form", novalidate: true }, ...fields, el("div", { class: "buttons" }, submit, cancel));
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (submit.disabled) return;  // one step per click
      const body = { to, from: h.status, if_unchanged_since: h.updated_at };
      const text = note.value.trim();
      if (text) body.note = text;
      if (NOTE_REQUIRED.includes(key) && !text) { say(t.note_required, false); note.focus(); return; }
      if (assignee) {
        if (!assignee.value) { say(t.pick_assignee, false); assignee.focus(); return; }
        body.assignee = assignee.value;
      }
      if (deadline) {
        const at = deadline.value ? new Date(deadline.value) : null;
        if (!at || isNaN(at)) { say(t.deadline_required, false); deadline.focus(); return; }
        body.deadline = at.toISOString();
      }
      submit.disabled = true;
      try {
        await api("/api/v1/hotspots/" + encodeURIComponent(h.id) + "/transitions", body);
        await showCase(h.id, [t.done + " " + t[LABEL[key]], true]);
      } catch (err) {
        if (err.status === 409) await showCase(h.id, [t.stale + " " + err.detail, false]);
        else { say(t.refused + " " + err.detail, false); submit.disabled = false; }
      }
      loadList();
      reminders();
    });
    return f;
  }

  function say(text, ok) {
    const m = $("case-message");
    if (!m) return;
    m.textContent = text;
    m.className = "message " + (ok ? "ok" : "bad");
  }

  function render(message) {
    if (!current) return;
    const { hotspot: h, file } = current;
    if (map) { map.remove(); map = null; }
    const mapBox = el("div", { id: "case-map", "data-testid": "case-map", role: "img", "aria-label": t.map_title });
    const detail = $("detail");
    const parts = [
      el("h2", { "data-testid": "case-title" }, caseTitle(h)),
      h.description ? el("p", { class: "sub hint" }, categoryWord(h.category)) : null,
      facts(h, file),
      flagsBanner(file),
      el("p", { class: "message", id: "case-message", "data-testid": "case-message", role: "status" }),
      el("h3", { text: t.actions }),
      actions(h),
      el("div", { class: "split" },
        el("div", {}, el("h3", { text: t.map_title }), mapBox),
        el("div", {}, el("h3", { text: t.photos }), photos(file))),
      el("h3", { text: t.roster + paren(when(file.roster_found_at)) }),
      roster(file),
      el("h3", { text: t.timeline }),
      timeline(h, file)];
    detail.replaceChildren(...parts.filter((p) => p));  // (a null would show as "null")
    if (message) say(message[0], message[1]);
    drawMap(mapBox, h, file);
  }

  function drawMap(box, h, file) {
    if (typeof L === "undefined") return;
    map = L.map(box, { zoomControl: true, attributionControl: !!cfg.basemap });
    if (cfg.basemap) {
      L.tileLayer(cfg.basemap.url, { attribution: cfg.basemap.attribution, subdomains: cfg.basemap.subdomains, maxZoom: 19 }).addTo(map);
    }
    // The view first: Leaflet draws vector layers only on a map that has one.
    const outline = file.cell && file.cell.geometry
      ? L.geoJSON(file.cell.geometry, { style: { color: "#0b3d91", weight: 2, fillOpacity: 0.08 } }) : null;
    const bounds = outline ? outline.getBounds() : null;
    if (bounds && bounds.isValid()) map.fitBounds(bounds.extend([h.lat, h.lon]), { padding: [12, 12], maxZoom: 17 });
    else map.setView([h.lat, h.lon], 16);
    if (outline) outline.addTo(map);
    L.circleMarker([h.lat, h.lon], { radius: 8, color: "#fff", weight: 2, fillColor: "#b2182b", fillOpacity: 1 })
      .addTo(map).bindTooltip(caseTitle(h));
  }

  fillForm();
  writeState(false);
  loadList();
  reminders();
  if (state.case) showCase(state.case);
  setInterval(() => { if (!document.hidden) { reminders(); loadList(); } }, 60000);
})();
