/* The desk's panel of cells about to lapse: unit cells whose patrol requirement runs out within
 * GRIDWATCH_AT_RISK_HOURS (GET /api/v1/at-risk), by district and grid leader, soonest first —
 * someone must go before then. Each chip is one leader's cells in one district. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const t = cfg.strings;
  const $ = (id) => document.getElementById(id);
  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));

  function left(dueAt) {
    const minutes = Math.max(0, Math.floor((new Date(dueAt).getTime() - Date.now()) / 60000));
    return fmt(t.risk_due_in, { h: Math.floor(minutes / 60), m: String(minutes % 60).padStart(2, "0") });
  }

  async function load() {
    let data;
    try {
      const r = await fetch("/api/v1/at-risk", { credentials: "same-origin" });
      if (!r.ok) return;
      data = await r.json();
    } catch (err) { return; }  // the next round tries again
    $("risk-title").textContent = fmt(t.risk_title, { h: data.hours });
    $("risk-count").textContent = String(data.cells);
    // One chip per district and leader, the soonest first: when, whose, how many.
    const groups = [];
    for (const district of data.districts) {
      for (const leader of district.leaders) groups.push({ district, leader, first: leader.cells[0].due_at });
    }
    groups.sort((a, b) => new Date(a.first) - new Date(b.first));
    const chips = groups.map(({ district, leader }) => {
      const li = document.createElement("li");
      li.setAttribute("data-testid", "at-risk-group");
      li.dataset.district = district.code || "";
      li.dataset.leader = leader.username || "";
      li.dataset.cells = leader.cells.map((c) => c.ref).join(" ");
      const who = leader.username ? (leader.name || leader.username) : t.risk_no_leader;
      li.textContent = left(leader.cells[0].due_at) + " · " + who + " · "
        + fmt(t.risk_cells, { n: leader.cells.length });
      li.title = (district.name || "") + " · " + who + (leader.phone ? " ☎ " + leader.phone : "") + "\n"
        + leader.cells.map((c) => c.name + " (" + c.ref + ") " + left(c.due_at)).join("\n");
      return li;
    });
    if (!chips.length) {
      const none = document.createElement("li");
      none.className = "none";
      none.textContent = t.risk_empty;
      chips.push(none);
    }
    $("risk-list").replaceChildren(...chips);
  }

  load();
  setInterval(() => { if (!document.hidden) load(); }, 60000);
})();
