/* gridwatch coverage map: the cell card (reasons, roster, and the evidence behind a red cell:
 * cases, reports with photos, lapses, the dossier) and the case popup. Every piece of user
 * text reaches the page through textContent, never innerHTML. */
(function () {
  "use strict";

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === undefined || v === null) return;
      if (k === "text") node.textContent = v;
      else if (k === "style") node.style.cssText = v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => {
      if (c !== null && c !== undefined) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function words(cfg) {
    const t = cfg.strings;
    const w = cfg.case_words;
    return {
      t,
      status: (s) => w["st_" + s] || s,
      category: (c) => cfg.categories[c] || c || "",
      when: (iso) => iso ? new Date(iso).toLocaleString(cfg.lang === "zh" ? "zh-CN" : "en-GB", {
        timeZone: cfg.timezone, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit" }) : t.never,
      format: (s, values) => s.replace(/\{(\w+)\}/g, (_, k) => String(values[k])),
    };
  }

  // "扬尘 · 已派遣": the case's category and its status (at the map's instant), in the desk's words.
  function caseTitle(cfg, h, status) {
    const w = words(cfg);
    return w.category(h.category) + " · " + w.status(status);
  }

  function caseCard(cfg, h) {
    const w = words(cfg);
    const then = h.at || h;
    return el("div", { class: "gw-card", "data-testid": "hotspot-card" }, [
      el("h3", { text: caseTitle(cfg, h, then.status) }),
      el("div", { class: "desc", text: h.description }),
      el("div", { text: w.t.deadline + ": " + (then.deadline ? w.when(then.deadline) : "-")
                        + (then.overdue ? " (" + w.t.overdue + ")" : "") }),
      el("a", { href: "/desk?case=" + encodeURIComponent(h.id), text: w.t.open_desk }),
    ]);
  }

  function section(title, testid, items, empty) {
    return el("section", { "data-testid": testid }, [
      el("h4", { text: title }),
      items.length ? el("ul", {}, items) : el("div", { class: "none", text: empty }),
    ]);
  }

  function cellCard(cfg, c) {
    const w = words(cfg);
    const t = w.t;
    const reasons = c.reasons.length
      ? c.reasons.map((r) => el("span", { text: t[r] || r, style: "background:" + (cfg.colours[r] || "#777") }))
      : [el("span", { text: t.ok, "data-status": "ok", style: "background:" + cfg.colours.ok })];
    const people = el("ul", {}, c.roster.map((p) =>
      el("li", { text: (t[p.duty] || p.duty) + ": " + p.name + " " + (p.phone || "") })));

    const cases = c.cases.map((h) => el("li", { "data-case-id": h.id, class: h.open ? "open" : "done" }, [
      el("a", { href: h.desk_url, text: caseTitle(cfg, h, h.status) }),
      h.overdue ? el("strong", { class: "overdue", text: " (" + t.overdue + ")" }) : null,
      el("div", { class: "desc", text: h.description }),
    ]));
    if (c.cases_total > c.cases.length) {
      cases.push(el("li", { class: "none", text: w.format(t.more_cases, { n: c.cases_total - c.cases.length }) }));
    }

    const reports = c.reports.map((r) => el("li", {}, [
      el("div", { text: w.when(r.observed_at) + " · " + r.reporter_name + " · "
                        + (r.kind === "issue" ? t.report_issue : t.report_patrol)
                        + (r.category ? " · " + w.category(r.category) : "")
                        + (r.counted ? "" : " · " + t.not_counted + ": "
                           + r.flags.map((f) => t["flag_" + f] || f).join(t.list_sep)) }),
      r.description ? el("div", { class: "desc", text: r.description }) : null,
      r.photos.length ? el("div", { class: "thumbs" }, r.photos.map((p) =>
        el("a", { href: p.url, target: "_blank", rel: "noopener", title: t.original }, [
          el("img", { src: p.display_url, alt: t.photo_alt, loading: "lazy" })]))) : null,
    ]));

    const parts = [
      el("h3", { text: c.name + " (" + c.code + ")" }),
      el("div", { class: "reasons" }, reasons),
      el("div", { text: t.last_patrol + ": " + w.when(c.last_patrol_at) }),
      c.dossier ? el("a", { class: "gw-dossier", href: c.dossier.url, download: "", "data-testid": "cell-card-dossier",
                            text: t.dossier }) : null,
      people,
      section(t.cases, "cell-card-cases", cases, t.no_cases),
      c.lapses ? section(t.lapses, "cell-card-lapses", c.lapses.map((x) => el("li", {
        text: (t["lapse_" + x.lapse] || x.lapse) + " " + w.when(x.start) + " – " + w.when(x.end)
              + " (" + x.hours + " " + t.hours_short + ") · "
              + (x.responsible.length ? x.responsible.map((p) => (t[p.duty] || p.duty) + " " + p.name).join(t.list_sep) : t.nobody),
      })), t.no_lapses) : null,
      section(t.reports, "cell-card-reports", reports, t.no_reports),
    ].filter(Boolean);
    return el("div", { class: "gw-card", "data-testid": "cell-card", "data-code": c.code, "data-as-of": c.as_of }, parts);
  }

  window.gridwatchCard = { el, words, caseCard, cellCard };
})();
