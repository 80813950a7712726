/* The desk's panel of cells about to lapse: unit cells whose patrol requirement runs out within
 * GRIDWATCH_AT_RISK_HOURS (GET /api/v1/at-risk), by district and grid leader, soonest first —
 * someone must go before then. Each district is written out with one chip per leader's cells. */
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
    // By district (the one with the soonest cell first), each with one chip per grid leader,
    // soonest first: when, whose, how many. The district's name is written out, not hovered.
    const soonest = (leader) => new Date(leader.cells[0].due_at).getTime();
    const districts = data.districts.map((district) => ({
      district, leaders: district.leaders.slice().sort((a, b) => soonest(a) - soonest(b)),
    }));
    districts.sort((a, b) => soonest(a.leaders[0]) - soonest(b.leaders[0]));
    const chips = districts.map(({ district, leaders }) => {
      const block = document.createElement("li");
      block.className = "district";
      block.setAttribute("data-testid", "at-risk-district");
      block.dataset.district = district.code || "";
      const name = document.createElement("strong");
      name.textContent = district.name || district.code || "—";
      const row = document.createElement("ul");
      row.append(...leaders.map((leader) => {
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
      }));
      block.append(name, row);
      return block;
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
