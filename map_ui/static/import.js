// The import page (/admin/import): choosing a file previews it (the import, rolled back on the
// server); confirming imports that very file. Every text from the file or the server is set
// as textContent, never as markup.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("config").textContent);
  const t = config.strings;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const fileInput = $("file");
  const kindInput = $("kind");
  const confirmButton = $("confirm");
  let previewed = null; // {sha256, kind} of the file shown
  let map = null;
  let cellLayer = null;

  function status(text) {
    $("status").textContent = text || "";
  }

  function list(id, items) {
    const ul = $(id);
    ul.replaceChildren();
    for (const item of items || []) {
      const li = document.createElement("li");
      li.textContent = item;
      ul.appendChild(li);
    }
    $(id + "-box").hidden = !items || items.length === 0;
  }

  function counts(answer) {
    const dl = $("counts");
    dl.replaceChildren();
    for (const [key, value] of Object.entries(answer.counts || {})) {
      const dt = document.createElement("dt");
      dt.textContent = t["count_" + key] || key;
      const dd = document.createElement("dd");
      dd.textContent = String(value);
      dd.dataset.count = key;
      dl.append(dt, dd);
    }
  }

  function drawCells(answer) {
    const features = (answer.cells && answer.cells.features) || [];
    $("map-box").hidden = features.length === 0;
    if (features.length === 0) return;
    if (map === null) {
      map = L.map("map", { preferCanvas: true });
      if (config.basemap) {
        L.tileLayer(config.basemap.url, {
          attribution: config.basemap.attribution,
          subdomains: config.basemap.subdomains.length ? config.basemap.subdomains : "abc",
          maxZoom: 19,
        }).addTo(map);
      }
    }
    if (cellLayer) cellLayer.remove();
    cellLayer = L.geoJSON(answer.cells, {
      style: (f) => ({
        color: f.properties.large ? "#b91c1c" : "#1d4ed8",
        weight: 1,
        fillOpacity: f.properties.large ? 0.35 : 0.15,
      }),
      onEachFeature: (f, layer) => {
        // bindTooltip with an element: the name is shown as text, never parsed as markup.
        const label = document.createElement("span");
        label.textContent = f.properties.code + " " + f.properties.name;
        layer.bindTooltip(label);
      },
    }).addTo(map);
    map.invalidateSize();
    map.fitBounds(cellLayer.getBounds(), { padding: [10, 10] });
    $("shown").textContent = t.import_shown
      .replace("{shown}", String(features.length))
      .replace("{total}", String(answer.total_cells));
  }

  function show(answer) {
    $("preview").hidden = false;
    $("source").textContent = answer.source + (answer.kind ? " · " + (t["import_kind_" + answer.kind] || answer.kind) : "");
    counts(answer);
    list("problems", answer.problems);
    list("warnings", answer.warnings);
    list("notes", answer.notes);
    $("ready").hidden = !answer.ok;
    confirmButton.disabled = !answer.ok;
    drawCells(answer);
  }

  async function send(url, form) {
    const response = await fetch(url, {
      method: "POST",
      body: form,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf },
    });
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    return { status: response.status, body: body };
  }

  function detailText(body) {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (detail && Array.isArray(detail.problems)) return detail.problems.join("\n");
    return JSON.stringify(detail);
  }

  async function preview() {
    const file = fileInput.files[0];
    previewed = null;
    confirmButton.disabled = true;
    $("result").hidden = true;
    if (!file) return;
    if (file.size > config.max_bytes) {
      status(t.import_failed + " " + file.name + " > " + Math.floor(config.max_bytes / 1048576) + " MiB");
      return;
    }
    status(t.import_checking);
    const form = new FormData();
    form.append("file", file);
    form.append("kind", kindInput.value);
    try {
      const { status: code, body } = await send("/api/v1/imports/preview", form);
      if (code !== 200) {
        status(t.import_failed + " " + detailText(body));
        return;
      }
      status("");
      previewed = body.ok ? { sha256: body.sha256, kind: body.kind } : null;
      show(body);
    } catch (e) {
      status(t.import_failed + " " + e);
    }
  }

  async function confirmImport() {
    const file = fileInput.files[0];
    if (!file || !previewed) return;
    confirmButton.disabled = true;
    status(t.import_writing);
    const form = new FormData();
    form.append("file", file);
    form.append("kind", previewed.kind);
    form.append("preview_sha256", previewed.sha256);
    const result = $("result");
    try {
      const { status: code, body } = await send("/api/v1/imports", form);
      status("");
      result.hidden = false;
      result.replaceChildren();
      const head = document.createElement("p");
      if (code === 200) {
        result.className = "done";
        head.textContent = t.import_done + " " + body.source;
        const dl = document.createElement("dl");
        for (const [key, value] of Object.entries(body.counts)) {
          const dt = document.createElement("dt");
          dt.textContent = t["count_" + key] || key;
          const dd = document.createElement("dd");
          dd.textContent = String(value);
          dd.dataset.count = key;
          dl.append(dt, dd);
        }
        result.append(head, dl);
        previewed = null;
        $("preview").hidden = true;
      } else {
        result.className = "failed";
        head.textContent = (code === 409 ? t.import_changed : t.import_failed) + " " + detailText(body);
        result.append(head);
      }
    } catch (e) {
      status(t.import_failed + " " + e);
      confirmButton.disabled = false;
    }
  }

  fileInput.addEventListener("change", preview);
  kindInput.addEventListener("change", preview);
  confirmButton.addEventListener("click", confirmImport);
  // A file chosen while the page was still loading (a slow network) raised its change event
  // before this script listened: preview it now.
  if (fileInput.files.length) preview();
})();
