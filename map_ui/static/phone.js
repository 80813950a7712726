/* gridwatch phone app: file a patrol in two taps, with or without signal.
 * Reports are kept in IndexedDB with their client UUID until the server has answered, so a
 * report made offline is sent once the network returns — and a re-send is harmless. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const t = cfg.strings;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const state = { kind: "patrol", position: null, cell: null };

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
  const queue = (item) => store("readwrite", (s) => s.put(item));
  const unqueue = (id) => store("readwrite", (s) => s.delete(id));
  // Only this user's items: on a shared phone another user's reports are never sent as ours.
  const queued = async () => (await store("readonly", (s) => s.getAll()))
    .filter((i) => i.owner === cfg.username);
  // 4xx answers other than "who are you / try later" are final: retrying cannot help.
  const final = (status) => status >= 400 && status < 500 && ![401, 403, 408, 429].includes(status);
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID()
    : "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
      (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16)));

  function say(text, kind) {
    const el = $("status");
    el.textContent = text;
    el.className = kind || "";
  }

  async function post(url, body, isJson) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: Object.assign({ "X-CSRF-Token": csrf }, isJson ? { "Content-Type": "application/json" } : {}),
      body: isJson ? JSON.stringify(body) : body,
    });
    if (!r.ok) { const err = new Error(String(r.status)); err.status = r.status; throw err; }
    return r.json();
  }

  // Send everything waiting: tracks, then reports in batches of at most 500 (idempotent on
  // their ids) with each one's photo, then "rectified" steps. An item leaves the outbox only
  // when the server has taken it, or has refused it for good.
  let flushing = false;
  let again = false;
  async function flush() {
    if (flushing) { again = true; return; }
    if (!navigator.onLine) return;
    flushing = true;
    let waiting = false;
    try {
      const all = await queued();
      for (const item of all.filter((i) => i.track)) {
        try {
          const out = await post("/api/v1/patrols", item.track, true);
          await unqueue(item.id);
          say(t.track_sent + " " + (out.cells.join(", ") || "—"), out.counted ? "counted" : "flagged");
        } catch (err) {
          if (!final(err.status)) { waiting = true; continue; }
          await unqueue(item.id);
          say(t.refused + " " + err.message, "flagged");
        }
      }
      const items = all.filter((i) => i.report);
      for (let start = 0; start < items.length; start += 500) {
        const chunk = items.slice(start, start + 500);
        let answer;
        try {
          answer = await post("/api/v1/reports/batch", chunk.map((i) => i.report), true);
        } catch (err) { waiting = true; break; }
        for (const result of answer.results) {
          const item = chunk[result.index];
          if (result.status === 200 || result.status === 201) {
            if (item.photo) {
              const form = new FormData();
              form.append("file", item.photo, "photo.jpg");
              try {
                await post("/api/v1/reports/" + item.id + "/photos", form, false);
              } catch (err) {
                // Only a photo refused as too large or not an image is given up; otherwise
                // the item stays and both are re-sent (the report re-send is a no-op).
                if (err.status !== 413 && err.status !== 415) { waiting = true; continue; }
              }
            }
            await unqueue(item.id);
            if (item.rectifies) {
              await queue({ id: "rectify-" + item.rectifies.id, owner: cfg.username,
                            rectify: { hotspot: item.rectifies, evidence: item.id } });
            }
            const flags = result.report.flags;
            if (result.report.counted) say(t.sent_counted, "counted");
            else say(t.sent_flagged + " " + flags.map((f) => t["flag_" + f] || f).join(", "), "flagged");
          } else if (final(result.status)) {
            await unqueue(item.id);
            say(t.refused + " " + JSON.stringify(result.detail), "flagged");
          } else {
            waiting = true;
          }
        }
      }
      for (const item of (await queued()).filter((i) => i.rectify)) {
        try {
          await rectify(item.rectify.hotspot, item.rectify.evidence);
          await unqueue(item.id);
        } catch (err) {
          if (!final(err.status)) { waiting = true; continue; }
          await unqueue(item.id);  // e.g. 409: the case has moved on
          say(t.refused + " " + err.message, "flagged");
        }
      }
    } catch (err) {
      waiting = true;
    } finally {
      flushing = false;
      if (waiting) say(t.queued, "queued");
      showOutbox();
      if (again) { again = false; flush(); }
    }
  }
  setInterval(flush, 60000);  // a captive portal or a server restart ends without an event
  document.addEventListener("visibilitychange", () => { if (!document.hidden) flush(); });

  async function showOutbox() {
    const list = $("outbox");
    list.replaceChildren();
    for (const item of await queued()) {
      const li = document.createElement("li");
      const when = item.report ? item.report.observed_at
        : item.track ? item.track.ended_at : new Date().toISOString();
      li.textContent = t.waiting + " · " + new Date(when).toLocaleString();
      list.appendChild(li);
    }
  }

  // --- position ------------------------------------------------------------------------
  async function locate(pos) {
    state.position = pos.coords;
    state.fixedAt = pos.timestamp || Date.now();
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
  }
  if (!navigator.geolocation) $("where").textContent = t.no_position;
  else {
    navigator.geolocation.watchPosition(locate, () => { $("where").textContent = t.no_position; },
                                        { enableHighAccuracy: true, maximumAge: 10000 });
  }

  // --- photos: shrink on the phone before upload -----------------------------------------
  function shrink(file) {
    return new Promise((resolve) => {
      const img = new Image();
      img.onload = () => {
        const scale = Math.min(1, 1600 / Math.max(img.width, img.height));
        const canvas = document.createElement("canvas");
        canvas.width = Math.round(img.width * scale);
        canvas.height = Math.round(img.height * scale);
        canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
        canvas.toBlob((blob) => resolve(blob || file), "image/jpeg", 0.85);
      };
      img.onerror = () => resolve(file);
      img.src = URL.createObjectURL(file);
    });
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
    await flush();
  });

  // --- "rectified", with a photo: an issue report carrying the photo is the evidence --------
  async function rectify(hotspot, reportId) {
    const url = "/api/v1/hotspots/" + hotspot.id + "/transitions";
    if (hotspot.status === "dispatched") {
      await post(url, { to: "rectifying" }, true);
      hotspot.status = "rectifying";  // a retry after a failed second step starts here
    }
    await post(url, { to: "rectified", note: t.rectified, evidence_report_id: reportId }, true);
    say(t.rectified, "counted");
    home();
  }

  // --- screens -----------------------------------------------------------------------------
  function show(form) { $("home").hidden = form; $("form").hidden = !form; }
  function openForm(hotspot) {
    state.rectifies = hotspot || null;
    $("rectifying").hidden = !hotspot;
    $("rectifying").textContent = hotspot ? t.rectify_for + " " + hotspot.description : "";
    setKind(hotspot ? "issue" : "patrol");
    say("");
    show(true);
  }
  $("patrol-here").addEventListener("click", () => openForm(null));
  $("back").addEventListener("click", () => show(false));
  function setKind(kind) {
    state.kind = kind;
    document.querySelectorAll(".kind").forEach((x) => x.classList.toggle("on", x.dataset.kind === kind));
  }
  document.querySelectorAll(".kind").forEach((b) => b.addEventListener("click", () => setKind(b.dataset.kind)));
  $("submit").addEventListener("click", async () => {
    const button = $("submit");
    if (button.disabled) return;  // a double tap files one report
    if (!state.position || Date.now() - state.fixedAt > 120000) { say(t.no_position, "flagged"); return; }
    const file = $("photo").files[0];
    if (state.rectifies && !file) { say(t.need_photo, "flagged"); return; }
    button.disabled = true;
    try {
      const id = uuid();
      const report = {
        id, lat: state.position.latitude, lon: state.position.longitude,
        accuracy_m: Math.round(state.position.accuracy * 10) / 10,
        observed_at: new Date().toISOString(), kind: state.kind,
        category: $("category").value || null, description: $("description").value || null,
      };
      await queue({ id, owner: cfg.username, report, photo: file ? await shrink(file) : null,
                    rectifies: state.rectifies ? { id: state.rectifies.id, status: state.rectifies.status } : null });
      state.rectifies = null;
      say(t.queued, "queued");
      $("description").value = "";
      $("photo").value = "";
      show(false);
    } catch (err) {
      say(t.refused + " " + err.message, "flagged");  // e.g. no storage left on the phone
      return;
    } finally {
      button.disabled = false;
    }
    await flush();
  });
  window.addEventListener("online", flush);

  async function home() {
    try {
      const cells = await (await fetch("/api/v1/gaps?coverage=false", { credentials: "same-origin" })).json();
      const gaps = Object.fromEntries(cells.cells.map((c) => [c.code, c]));
      const mine = await (await fetch("/api/v1/cells?leaf=true", { credentials: "same-origin" })).json();
      const list = $("cells");
      list.replaceChildren();
      for (const c of mine.cells) {
        const li = document.createElement("li");
        const dot = document.createElement("span");
        dot.className = "dot";
        const gap = gaps[c.code];
        dot.style.background = gap ? (cfg.colours[gap.reasons[0]] || "#b2182b") : cfg.colours.ok;
        li.appendChild(dot);
        let card = {};
        try {
          card = await (await fetch("/api/v1/cells/" + encodeURIComponent(c.code) + "/card",
                                    { credentials: "same-origin" })).json();
        } catch (err) { /* one cell's card missing does not empty the list */ }
        const hours = card.last_patrol_at
          ? " · " + Math.round((Date.now() - new Date(card.last_patrol_at)) / 3600000) + " " + t.hours_ago
          : " · " + t.never_patrolled;
        li.appendChild(document.createTextNode(c.name + hours
          + (gap ? " · " + gap.reasons.map((r) => t[r] || r).join(", ") : "")));
        list.appendChild(li);
      }
      const hs = await (await fetch("/api/v1/hotspots?open=true", { credentials: "same-origin" })).json();
      const hl = $("hotspots");
      hl.replaceChildren();
      for (const h of hs.hotspots.filter((x) => x.assignee === cfg.username)) {
        const li = document.createElement("li");
        li.textContent = h.description + (h.deadline ? " · " + t.deadline + " " + new Date(h.deadline).toLocaleString() : "")
          + (h.overdue ? " · " + t.overdue : "");
        if (h.status === "dispatched" || h.status === "rectifying") {
          const b = document.createElement("button");
          b.type = "button";
          b.textContent = t.rectify;
          b.setAttribute("data-testid", "hotspot-rectify");
          b.addEventListener("click", () => openForm(h));
          li.appendChild(document.createElement("br"));
          li.appendChild(b);
        }
        hl.appendChild(li);
      }
    } catch (err) { /* offline: the shell still works, the lists wait for the network */ }
  }

  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(() => null);
  home();
  showOutbox();
  flush();
})();
