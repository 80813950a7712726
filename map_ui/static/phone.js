/* gridwatch phone app: file a patrol in two taps, with or without signal.
 * Reports are kept in IndexedDB with their client UUID until the server has answered, so a
 * report made offline is sent once the network returns — and a re-send is harmless. Photos go
 * as taken (bytes and EXIF untouched): the server keeps the original and derives what pages
 * show. The last reports' final verdicts (photo flags included) are kept in the browser. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const t = cfg.strings;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const state = { kind: "patrol", position: null, cell: null };
  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  const megabytes = (bytes) => String(Math.round(bytes / 1048576 * 10) / 10);

  // --- the outbox (IndexedDB) ----------------------------------------------------------
  function db() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open("gridwatch", 1);
      req.onupgradeneeded = () => req.result.createObjectStore("outbox", { keyPath: "id" });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  async function store(mode, fn) {
    const conn = await db();
    return new Promise((resolve, reject) => {
      const tx = conn.transaction("outbox", mode);
      const result = fn(tx.objectStore("outbox"));
      tx.oncomplete = () => resolve(result && result.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error("storage full"));
    });
  }
  const queue = (item) => store("readwrite", (s) => s.put(Object.assign({ made: Date.now() }, item)));
  const unqueue = (id) => store("readwrite", (s) => s.delete(id));
  // Only this user's items (on a shared phone another user's reports are never sent as ours),
  // oldest first: the last verdict said is the newest report's.
  const queued = async () => (await store("readonly", (s) => s.getAll()))
    .filter((i) => i.owner === cfg.username)
    .sort((a, b) => (a.made || 0) - (b.made || 0));
  // 4xx answers other than "who are you / try later" are final: retrying cannot help.
  const final = (status) => status >= 400 && status < 500 && ![401, 403, 408, 429].includes(status);
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID()
    : "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
      (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16)));

  // --- the last reports and their final verdicts (localStorage, per user) -----------------
  const HISTORY_KEY = "gridwatch-history:" + cfg.username;
  const HISTORY_SIZE = 20;
  function history() {
    try { return JSON.parse(localStorage.getItem(HISTORY_KEY)) || []; } catch (err) { return []; }
  }
  function remember(entry) {
    const list = [entry].concat(history().filter((e) => e.id !== entry.id)).slice(0, HISTORY_SIZE);
    try { localStorage.setItem(HISTORY_KEY, JSON.stringify(list)); } catch (err) { /* a convenience only */ }
  }
  const flagWords = (flags) => flags.map((f) => t["flag_" + f] || f).join(t.list_sep);
  function verdict(entry) {
    if (entry.refused) return t.refused + " " + entry.refused;
    let text;
    if (entry.kind === "track" && entry.counted) text = t.track_sent + " " + (entry.cells.join(", ") || "—");
    else if (entry.counted) text = t.sent_counted;
    else text = t.sent_flagged + " " + flagWords(entry.flags);
    if (entry.photo_error) text += " · " + t.photo_refused + " " + entry.photo_error;
    return text;
  }
  const verdictClass = (entry) => (entry.counted && !entry.refused ? "counted" : "flagged");
  function settled(entry) {
    remember(entry);
    say(verdict(entry), verdictClass(entry));
  }

  function signInAgain() {
    const el = $("status");
    el.textContent = t.sign_in_again + " ";
    el.className = "flagged";
    const link = document.createElement("a");
    link.href = "/login?next=" + encodeURIComponent("/m/") + "&lang=" + document.documentElement.lang;
    link.textContent = t.sign_in_link;
    link.setAttribute("data-testid", "sign-in-again");
    el.appendChild(link);
  }

  function say(text, kind) {
    const el = $("status");
    el.textContent = text;
    el.className = kind || "";
  }
  // The server's words for a refusal: a message, or pydantic's list of field errors.
  function detailText(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => (d && d.msg) || JSON.stringify(d)).join("; ");
    return detail === undefined ? "" : JSON.stringify(detail);
  }

  async function post(url, body, isJson) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: Object.assign({ "X-CSRF-Token": csrf }, isJson ? { "Content-Type": "application/json" } : {}),
      body: isJson ? JSON.stringify(body) : body,
    });
    if (!r.ok) {
      const err = new Error(String(r.status));
      err.status = r.status;
      try { err.detail = (await r.json()).detail; } catch (e) { err.detail = r.statusText; }
      throw err;
    }
    return r.json();
  }

  // A report's photo, after the report: the answer carries the report's verdict with the photo
  // on it (a duplicate or a photo taken elsewhere voids a report the intake had counted).
  // Returns false when it must be tried again later.
  async function sendPhoto(item, entry) {
    const form = new FormData();
    form.append("file", item.photo, item.photoName || "photo");
    try {
      const out = await post("/api/v1/reports/" + item.id + "/photos", form, false);
      entry.flags = out.report_flags;
      entry.counted = out.report_counted;
      entry.photo = { url: out.url, display_url: out.display_url };
    } catch (err) {
      if (!final(err.status)) return false;  // the report re-send on the next try is a no-op
      entry.photo_error = t["photo_refused_" + err.status] || detailText(err.detail) || err.message;
    }
    return true;
  }

  // Send everything waiting: tracks, then reports in batches of at most 500 (idempotent on
  // their ids) with each one's photo, then "rectified" steps. An item leaves the outbox only
  // when the server has taken it, or has refused it for good.
  let flushing = false;
  let again = false;
  async function flush() {
    if (flushing) { again = true; return; }
    if (!navigator.onLine) { await showOutbox(); return; }
    flushing = true;
    let waiting = false;
    let signedOut = false;  // the session ended (signed out elsewhere, password changed)
    let sent = false;
    try {
      const all = await queued();
      for (const item of all.filter((i) => i.track)) {
        const entry = { id: item.id, kind: "track", at: item.track.ended_at, flags: [], cells: [] };
        try {
          const out = await post("/api/v1/patrols", item.track, true);
          Object.assign(entry, { counted: out.counted, flags: out.flags, cells: out.cells });
          sent = true;
        } catch (err) {
          if (!final(err.status)) { waiting = true; signedOut = signedOut || err.status === 401; continue; }
          entry.refused = detailText(err.detail) || err.message;
        }
        await unqueue(item.id);
        settled(entry);
        await showOutbox();
      }
      const items = all.filter((i) => i.report);
      for (let start = 0; start < items.length; start += 500) {
        const chunk = items.slice(start, start + 500);
        let answer;
        try {
          answer = await post("/api/v1/reports/batch", chunk.map((i) => i.report), true);
        } catch (err) { waiting = true; signedOut = signedOut || err.status === 401; break; }
        for (const result of answer.results) {
          const item = chunk[result.index];
          const entry = { id: item.id, kind: item.report.kind, at: item.report.observed_at,
                          text: (item.report.description || "").slice(0, 40),
                          flags: [], counted: false, photo: null };
          if (result.status === 200 || result.status === 201) {
            entry.flags = result.report.flags;
            entry.counted = result.report.counted;
            if (item.photo && !(await sendPhoto(item, entry))) { waiting = true; continue; }
            // The "rectified" step is queued before its report leaves the outbox: a page closed
            // in between re-sends the report (a no-op) rather than losing the step.
            if (item.rectifies) {
              await queue({ id: "rectify-" + item.rectifies.id, owner: cfg.username,
                            rectify: { hotspot: item.rectifies, evidence: item.id } });
            }
            await unqueue(item.id);
            sent = true;
          } else if (final(result.status)) {
            await unqueue(item.id);
            entry.refused = detailText(result.detail) || String(result.status);
          } else {
            waiting = true;
            continue;
          }
          settled(entry);
          await showOutbox();
        }
      }
      for (const item of (await queued()).filter((i) => i.rectify)) {
        try {
          // The first of the two steps taken is written back: a retry starts at the second.
          await rectify(item.rectify.hotspot, item.rectify.evidence, () => queue(item));
          await unqueue(item.id);
        } catch (err) {
          if (!final(err.status)) { waiting = true; signedOut = signedOut || err.status === 401; continue; }
          await unqueue(item.id);  // e.g. 409: the case has moved on
          say(t.refused + " " + (detailText(err.detail) || err.message), "flagged");
        }
      }
    } catch (err) {
      waiting = true;
    } finally {
      flushing = false;
      // Signed out: nothing is sent until the inspector signs in again — say so, not
      // "no network", and offer the way back (the outbox stays on the phone meanwhile).
      if (signedOut) signInAgain();
      else if (waiting) say(t.queued, "queued");
      await showOutbox();
      if (sent) home();  // the cells' last patrol and status have moved on
      if (again) { again = false; flush(); }
    }
  }
  setInterval(flush, 60000);  // a captive portal or a server restart ends without an event
  document.addEventListener("visibilitychange", () => { if (!document.hidden) flush(); });

  const kindWord = (kind) => t["kind_" + kind] || kind;
  // A case opened from a report without a description goes by its category.
  const caseTitle = (h) => h.description || cfg.categories[h.category] || h.category;
  const locale = document.documentElement.lang === "zh" ? "zh-CN" : "en-GB";
  const when = (iso) => new Date(iso).toLocaleString(locale, { dateStyle: "short", timeStyle: "short" });

  // What is waiting and what became of the last reports; built whole, then swapped in, so
  // two refreshes at once cannot interleave their rows.
  async function showOutbox() {
    let waiting = [];
    try { waiting = await queued(); } catch (err) { /* no storage: nothing can be waiting */ }
    const rows = [];
    for (const item of waiting.filter((i) => i.report || i.track)) {
      const li = document.createElement("li");
      li.className = "queued";
      li.setAttribute("data-testid", "outbox-item");
      li.dataset.reportId = item.id;
      const kind = item.report ? item.report.kind : "track";
      const at = item.report ? item.report.observed_at : item.track.ended_at;
      li.textContent = t.waiting + " · " + kindWord(kind) + " · " + when(at)
        + (item.photo ? " · " + t.with_photo : "");
      rows.push(li);
    }
    $("outbox").replaceChildren(...rows);
    $("outbox-box").hidden = !rows.length;
    const sentRows = history().map((entry) => {
      const li = document.createElement("li");
      li.className = verdictClass(entry);
      li.setAttribute("data-testid", "history-item");
      li.dataset.reportId = entry.id;
      const head = document.createElement("div");
      head.className = "when";
      head.textContent = when(entry.at) + " · " + kindWord(entry.kind)
        + (entry.text ? " · " + entry.text : "");
      const body = document.createElement("div");
      body.className = "verdict";
      body.textContent = verdict(entry);
      li.append(head, body);
      if (entry.photo) {  // the derived copy, the original one tap away
        const link = document.createElement("a");
        link.href = entry.photo.url;
        link.target = "_blank";
        link.rel = "noopener";
        link.title = t.original;
        const img = document.createElement("img");
        img.src = entry.photo.display_url;
        img.alt = t.photo_alt;
        img.loading = "lazy";
        img.onerror = () => link.remove();  // offline: no broken picture
        link.appendChild(img);
        li.appendChild(link);
      }
      return li;
    });
    $("history").replaceChildren(...sentRows);
    $("history-box").hidden = !sentRows.length;
  }

  // --- position ------------------------------------------------------------------------
  async function locate(pos) {
    state.position = pos.coords;
    document.dispatchEvent(new CustomEvent("gridwatch:position", { detail: { position: pos.coords } }));
    // The page's clock, not pos.timestamp: some phones stamp fixes with GPS time, which can
    // differ from the clock that dates the reports (and the freshness check below).
    state.fixedAt = Date.now();
    if (state.track && state.track.coordinates.length < 20000) {
      const last = state.track.times.length ? state.track.times[state.track.times.length - 1] : "";
      const at = new Date(state.fixedAt).toISOString();
      state.track.coordinates.push([pos.coords.longitude, pos.coords.latitude]);
      state.track.times.push(at > last ? at : last);  // never backwards
      $("track").textContent = t.track_stop + " (" + state.track.coordinates.length + " " + t.track_points + ")";
    }
    const acc = Math.round(pos.coords.accuracy);
    let where = t.accuracy + " ±" + acc + " m";
    try {
      const r = await fetch("/api/v1/cells/locate?lat=" + pos.coords.latitude + "&lon=" + pos.coords.longitude,
                            { credentials: "same-origin" });
      if (r.ok) { const c = await r.json(); state.cell = c; where = c.name + " · " + where; }
      else where = t.no_cell + " · " + where;
    } catch (err) { /* offline: the server resolves the cell when the report arrives */ }
    $("where").textContent = where;
    $("form-where").textContent = where;
    if (state.stop) showStop();
  }
  if (!navigator.geolocation) $("where").textContent = t.no_position;
  else {
    navigator.geolocation.watchPosition(locate, () => { $("where").textContent = t.no_position; },
                                        { enableHighAccuracy: true, maximumAge: 10000 });
  }

  // --- photos: sent as taken; one the server cannot take is refused here, before queueing --
  function photoProblem(file) {
    if (file.size > cfg.photo_max_bytes) {
      return fmt(t.photo_too_large, { size: megabytes(file.size), max: megabytes(cfg.photo_max_bytes) });
    }
    if (file.type && !cfg.photo_types.includes(file.type)) return t.photo_wrong_type;
    return null;
  }

  // --- a patrol with a GPS track (while this page is open) ---------------------------------
  $("track").addEventListener("click", async () => {
    if (!state.track) {
      const started = new Date().toISOString();
      state.track = { started_at: started, coordinates: [], times: [] };
      if (state.position) {
        state.track.coordinates.push([state.position.longitude, state.position.latitude]);
        state.track.times.push(started);
      }
      $("track").classList.add("on");
      $("track").textContent = t.track_stop;
      return;
    }
    const tr = state.track;
    state.track = null;
    $("track").classList.remove("on");
    $("track").textContent = t.track_start;
    if (tr.coordinates.length < 2) return;
    const id = uuid();
    const last = tr.times[tr.times.length - 1];
    const now = new Date().toISOString();
    const ended = now > last ? now : last;
    await queue({ id, owner: cfg.username, track: { id, started_at: tr.started_at, ended_at: ended,
                               times: tr.times,
                               track: { type: "LineString", coordinates: tr.coordinates } } });
    say(t.queued, "queued");
    await showOutbox();
    await flush();
  });

  // --- "rectified", with a photo: an issue report carrying the photo is the evidence --------
  async function rectify(hotspot, reportId, save) {
    const url = "/api/v1/hotspots/" + hotspot.id + "/transitions";
    if (hotspot.status === "dispatched") {
      await post(url, { to: "rectifying" }, true);
      hotspot.status = "rectifying";  // a retry after a failed second step starts here
      if (save) await save();
    }
    await post(url, { to: "rectified", note: t.rectified, evidence_report_id: reportId }, true);
    say(t.rectified, "counted");
    home();
  }

  // --- screens -----------------------------------------------------------------------------
  function show(form) { $("home").hidden = form; $("form").hidden = !form; }
  function clearForm() {
    $("category").value = "";
    $("description").value = "";
    $("photo").value = "";
  }
  // The report form, for a case's rectification, for a stop of the plan of the day (`stop`:
  // phone-plan.js's item), or for wherever the inspector stands.
  function openForm(hotspot, stop) {
    state.rectifies = hotspot || null;
    state.stop = stop || null;
    $("rectifying").hidden = !hotspot;
    $("rectifying").textContent = hotspot ? t.rectify_for + " " + caseTitle(hotspot) : "";
    showStop();
    // The evidence of a rectification is a visit with a photo, not a new problem: an `issue`
    // report would open a case of its own.
    document.querySelector(".kinds").hidden = !!hotspot;
    setKind("patrol");
    clearForm();  // nothing of the last report carries over
    say("");
    show(true);
  }
  // Which stop the report is for. The server still places it by its GPS point: standing in
  // another cell, the report counts for that one — said here before it is filed.
  function showStop() {
    const stop = state.stop;
    $("report-for").hidden = !stop;
    if (!stop) { $("report-for").textContent = ""; return; }
    const away = state.cell && state.cell.code !== stop.cell_code;
    $("report-for").textContent = fmt(t.plan_report_for, { name: stop.label })
      + (away ? " · " + t.plan_report_elsewhere : "");
    $("report-for").className = "where" + (away ? " away" : "");
  }
  $("patrol-here").addEventListener("click", () => openForm(null));
  document.addEventListener("gridwatch:report-for", (e) => {
    openForm(null, e.detail);
    window.scrollTo(0, 0);
  });
  $("back").addEventListener("click", () => show(false));
  function setKind(kind) {
    state.kind = kind;
    document.querySelectorAll(".kind").forEach((x) => x.classList.toggle("on", x.dataset.kind === kind));
  }
  document.querySelectorAll(".kind").forEach((b) => b.addEventListener("click", () => setKind(b.dataset.kind)));
  $("submit").addEventListener("click", async () => {
    const button = $("submit");
    if (button.disabled) return;  // a double tap files one report
    const refuse = (text) => { say(text, "flagged"); $("status").scrollIntoView({ block: "nearest" }); };
    if (!state.position || Date.now() - state.fixedAt > 120000) { refuse(t.no_position); return; }
    const file = $("photo").files[0];
    if (state.rectifies && !file) { refuse(t.need_photo); return; }
    const problem = file ? photoProblem(file) : null;
    if (problem) { refuse(problem); return; }  // the form stays, to pick another photo
    button.disabled = true;
    try {
      const id = uuid();
      const report = {
        id, lat: state.position.latitude, lon: state.position.longitude,
        accuracy_m: Math.round(state.position.accuracy * 10) / 10,
        observed_at: new Date().toISOString(), kind: state.rectifies ? "patrol" : state.kind,
        category: $("category").value || null, description: $("description").value || null,
      };
      // A source's stop: the report is that source's inspection.
      if (state.stop && state.stop.kind === "source") report.source_id = Number(state.stop.ref);
      // The photo's own bytes, read now: the outbox holds the original even if the picker's
      // file goes away before the network returns.
      const photo = file ? new Blob([await file.arrayBuffer()], { type: file.type }) : null;
      await queue({ id, owner: cfg.username, report, photo, photoName: file ? file.name : null,
                    rectifies: state.rectifies ? { id: state.rectifies.id, status: state.rectifies.status } : null });
      state.rectifies = null;
      state.stop = null;
      say(t.queued, "queued");
      clearForm();
      show(false);
      window.scrollTo(0, 0);  // the verdict shows at the top
    } catch (err) {
      say(t.refused + " " + err.message, "flagged");  // e.g. no storage left on the phone
      return;
    } finally {
      button.disabled = false;
    }
    await showOutbox();
    await flush();
  });
  window.addEventListener("online", flush);

  // My cells with their status and last counted patrol, and my hotspots. A refresh that a
  // newer one overtakes is dropped, and each list is swapped in whole.
  let homeRun = 0;
  async function cellRow(c) {
    let card = null;
    try {
      const r = await fetch("/api/v1/cells/" + encodeURIComponent(c.code) + "/card", { credentials: "same-origin" });
      if (r.ok) card = await r.json();
    } catch (err) { /* one cell's card missing does not empty the list */ }
    const li = document.createElement("li");
    li.setAttribute("data-testid", "my-cell");
    li.dataset.cellCode = c.code;
    const dot = document.createElement("span");
    dot.className = "dot";
    const reasons = (card && card.reasons) || [];
    // The colour of the worst reason: the legend's colours come most severe first.
    const worst = Object.keys(cfg.colours).find((k) => reasons.includes(k));
    dot.style.background = reasons.length ? (cfg.colours[worst] || "#b2182b") : cfg.colours.ok;
    li.appendChild(dot);
    const parts = [c.name];
    if (card && card.last_patrol_at) {
      const hours = Math.floor((Date.now() - new Date(card.last_patrol_at)) / 3600000);
      parts.push(hours < 1 ? t.patrolled_recently : hours + " " + t.hours_ago);
    } else if (card) {
      parts.push(t.never_patrolled);
    }
    // "never patrolled" is said once, by the last-patrol part.
    const rest = reasons.filter((r) => r !== "never_patrolled").map((r) => t[r] || r);
    if (rest.length) parts.push(rest.join(t.list_sep));
    li.appendChild(document.createTextNode(parts.join(" · ")));
    return li;
  }
  // "overdue", "due-soon" (a running deadline within 24 h) or null.
  function caseUrgency(h) {
    if (h.overdue) return "overdue";
    const running = h.status === "dispatched" || h.status === "rectifying";
    if (running && h.deadline && new Date(h.deadline) - Date.now() < 24 * 3600000) return "due-soon";
    return null;
  }
  function caseRow(h, urgency, testid) {
    const li = document.createElement("li");
    li.setAttribute("data-testid", testid);
    li.dataset.caseId = h.id;
    if (urgency) li.className = urgency;
    li.textContent = caseTitle(h) + (h.deadline ? " · " + t.deadline + " " + when(h.deadline) : "")
      + (urgency === "overdue" ? " · " + t.overdue : urgency === "due-soon" ? " · " + t.due_soon : "");
    if (h.status === "dispatched" || h.status === "rectifying") {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = t.rectify;
      b.setAttribute("data-testid", "hotspot-rectify");
      b.addEventListener("click", () => openForm(h));
      li.appendChild(document.createElement("br"));
      li.appendChild(b);
    }
    return li;
  }
  async function home() {
    const run = ++homeRun;
    // The plan of the day (phone-plan.js) moves with the cells' last patrols.
    document.dispatchEvent(new CustomEvent("gridwatch:refresh", { detail: { position: state.position } }));
    try {
      const mine = await (await fetch("/api/v1/cells?leaf=true", { credentials: "same-origin" })).json();
      const cells = await Promise.all(mine.cells.map(cellRow));
      // The cases given to me, soonest deadline first (overdue ones lead).
      const hs = await (await fetch("/api/v1/hotspots?open=true&assignee=me&sort=deadline&limit=200",
                                    { credentials: "same-origin" })).json();
      if (run !== homeRun) return;
      $("cells").replaceChildren(...cells);
      const rows = [];
      const due = [];
      for (const h of hs.hotspots) {
        const urgency = caseUrgency(h);
        rows.push(caseRow(h, urgency, "my-hotspot"));
        if (urgency) due.push(caseRow(h, urgency, "my-due-item"));
      }
      $("hotspots").replaceChildren(...rows);
      $("due").replaceChildren(...due);
      $("due-box").hidden = !due.length;
      $("hotspots-badge").textContent = String(due.length);
      $("hotspots-badge").hidden = !due.length;
    } catch (err) { /* offline: the shell still works, the lists wait for the network */ }
  }

  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(() => null);
  home();
  showOutbox();
  flush();
})();
