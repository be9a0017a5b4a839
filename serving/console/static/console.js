/* recsys console: fills each page from the /v1/admin JSON routes (same origin, session cookie;
   POSTs carry the session's CSRF token). Builds DOM nodes, never HTML strings from data. */
"use strict";

const T = JSON.parse(document.getElementById("i18n").textContent);
const t = (key) => (key in T ? T[key] : key);
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const LOCALE = document.documentElement.lang || "en";
const COLORS = ["#0b7285", "#e8590c", "#2b8a3e", "#5f3dc4", "#c92a2a", "#1971c2", "#868e96",
  "#d6336c"];

async function api(path, method = "GET", body = undefined) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.headers["X-CSRF-Token"] = CSRF;
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = response.status === 204 ? null : await response.json();
  if (response.status === 401) {
    window.location.assign("/console/login");
  }
  if (!response.ok) {
    throw new Error((data && data.error && data.error.message) || String(response.status));
  }
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const num = (value) => (value === null || value === undefined ? "–" : Number(value).toLocaleString(LOCALE));
const pct = (value, digits = 1) =>
  value === null || value === undefined || Number.isNaN(value) ? "–" : `${(value * 100).toFixed(digits)}%`;
const when = (iso) => (iso ? new Date(iso).toLocaleString(LOCALE) : "–");
const ratio = (a, b) => (b ? a / b : null);
const ev = (type) => (`ev_${type}` in T ? T[`ev_${type}`] : type);

function table(headers, rows, attrs = {}) {
  const head = el("tr", {}, headers.map((h) => el("th", { class: h.num ? "num" : null }, h.label || h)));
  const body = rows.map((row) => el("tr", {}, row.map((cell, i) =>
    el("td", { class: headers[i] && headers[i].num ? "num" : null }, cell))));
  return el("table", attrs, el("thead", {}, head), el("tbody", {}, body));
}

function card(title, note, ...children) {
  return el("section", { class: "card" }, title ? el("h2", {}, title) : null,
    note ? el("p", { class: "note" }, note) : null, ...children);
}

function chart(type, labels, datasets, options = {}) {
  const canvas = el("canvas");
  const box = el("div", { class: "chart" }, canvas);
  const data = {
    labels,
    datasets: datasets.map((d, i) => ({
      borderColor: COLORS[i % COLORS.length], backgroundColor: COLORS[i % COLORS.length],
      borderWidth: 2, pointRadius: 2, ...d })),
  };
  requestAnimationFrame(() => new Chart(canvas, {
    type, data,
    options: { animation: false, responsive: true, maintainAspectRatio: false, ...options },
  }));
  return box;
}

function show(...nodes) {
  const content = document.getElementById("content");
  content.replaceChildren(...nodes);
  content.removeAttribute("aria-busy");
}

function failure(error) {
  return el("p", { class: "error", role: "alert" }, `${t("error")}: ${error.message}`);
}

function badge(text, kind = "") {
  return el("span", { class: `badge ${kind}` }, text);
}

/* Overview */

function versionRows(versions) {
  return versions.map((v) => [v.version, when(v.published_at), v.algorithm, num(v.users),
    num(v.items), v.expires_in_seconds === null ? "–" : `${Math.round(v.expires_in_seconds / 3600)} h`]);
}

async function overview() {
  const d = await api("/v1/admin/overview");
  const health = card(t("health"), null, el("dl", { class: "kv" },
    el("dt", {}, t("redis")), el("dd", {}, badge(d.health.redis ? t("up") : t("down"),
      d.health.redis ? "good" : "bad")),
    el("dt", {}, t("ready")), el("dd", {}, badge(d.health.ready ? t("yes") : t("no"),
      d.health.ready ? "good" : "bad"), d.health.detail ? ` ${d.health.detail}` : ""),
    el("dt", {}, t("served_model")), el("dd", {}, d.models.filter((m) => m.served && m.live)
      .map((m) => `${m.name} v${m.live.version}`).join(", ") || t("none"))));
  const models = d.models.length ? d.models.map((m) => {
    const live = m.live;
    const head = el("h2", {}, `${t("model")}: ${m.name}`, m.default ? badge(t("default_model")) : null,
      m.served ? badge(t("served"), "good") : null);
    const facts = live ? el("dl", { class: "kv", "data-live-version": live.version },
      el("dt", {}, t("live")), el("dd", {}, `${t("version")} ${live.version}`),
      el("dt", {}, t("published_at")), el("dd", {}, when(live.published_at)),
      el("dt", {}, t("algorithm")), el("dd", {}, live.algorithm),
      el("dt", {}, t("users_n")), el("dd", {}, num(live.users)),
      el("dt", {}, t("items_n")), el("dd", {}, num(live.items))) : el("p", {}, t("no_live"));
    const metrics = live && Object.keys(live.metrics).length
      ? table([t("metrics"), { label: "", num: true }],
        Object.entries(live.metrics).sort().map(([k, v]) => [k, v.toFixed(4)]), { class: "metrics" })
      : null;
    const retained = m.retained.length ? [el("h2", {}, t("retained")),
      table([t("version"), t("published_at"), t("algorithm"), { label: t("users_n"), num: true },
        { label: t("items_n"), num: true }, t("expires_in")], versionRows(m.retained))] : [];
    return el("section", { class: "card" }, head, facts, metrics, ...retained);
  }) : [card(null, null, el("p", {}, t("no_live")))];
  const minutes = d.events_per_minute;
  const labels = minutes.map((m) => new Date(m.minute).toLocaleTimeString(LOCALE, { hour: "2-digit", minute: "2-digit" }));
  const types = d.event_types.filter((type) => minutes.some((m) => m.counts[type]));
  const rate = card(t("events_per_minute"), t("events_per_minute_note"),
    chart("bar", labels, (types.length ? types : d.event_types.slice(0, 1)).map((type) => ({
      label: ev(type), data: minutes.map((m) => m.counts[type] || 0) })),
    { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }));
  show(el("div", { class: "grid" }, health, rate), ...models);
}

/* Monitoring */

async function monitoring() {
  const d = await api("/v1/admin/monitoring?days=14");
  const days = d.days.map((day) => day.day.slice(5));
  const sum = (pick) => d.days.reduce((total, day) => total + pick(day), 0);
  const period = el("p", { class: "note" }, `${t("period")}: ${d.days[0].day} – ${d.today}, ` +
    `${t("timezone")}: ${d.timezone}`);
  const dau = card(t("dau"), t("dau_note"), chart("bar", days, [
    { label: t("new_users"), data: d.days.map((x) => x.new_users), stack: "u" },
    { label: t("returning_users"), data: d.days.map((x) => x.returning_users), stack: "u" },
  ], { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }));
  const cohorts = d.cohorts.filter((c) => c.users > 0);
  const retention = card(t("retention"), t("retention_note"), table(
    [t("cohort"), { label: t("cohort_users"), num: true }, { label: t("d1"), num: true },
      { label: t("d7"), num: true }],
    cohorts.map((c) => [c.day, num(c.users), c.day1 === null ? "–" : pct(ratio(c.day1, c.users)),
      c.day7 === null ? "–" : pct(ratio(c.day7, c.users))]), { id: "retention" }));
  const steps = d.funnel.map((step) => sum((day) => day.funnel_users[step] || 0));
  const funnel = card(t("funnel"), t("funnel_note"),
    chart("bar", d.funnel.map(ev), [{ label: t("users"), data: steps }],
      { indexAxis: "y", plugins: { legend: { display: false } } }),
    table([t("event"), { label: t("users"), num: true }, { label: t("conversion"), num: true }],
      d.funnel.map((step, i) => [ev(step), num(steps[i]), i ? pct(ratio(steps[i], steps[i - 1])) : "–"]),
      { id: "funnel" }));
  const hourly = (type) => Array.from({ length: 24 }, (_, h) =>
    sum((day) => (day.by_hour[type] || [])[h] || 0));
  const views = hourly("view");
  const bought = hourly("purchase");
  const hours = Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, "0")}:00`);
  const byHour = card(t("conversion_by_hour"), t("conversion_by_hour_note"),
    chart("line", hours, [{ label: t("conversion"),
      data: hours.map((_, h) => (views[h] ? bought[h] / views[h] : null)), spanGaps: true }],
    { scales: { y: { beginAtZero: true, ticks: { callback: (v) => pct(v, 0) } } } }));
  const slotRows = d.slots.map((slot) => {
    const count = (type) => sum((day) => ((day.by_slot[slot] || {})[type]) || 0);
    return [slot, num(count("view")), num(count("cart")), num(count("purchase")),
      pct(ratio(count("purchase"), count("view"))), num(sum((day) => day.pushes_by_slot[slot] || 0))];
  });
  const slots = card(t("per_slot"), t("per_slot_note"), table([t("slot"),
    { label: t("views"), num: true }, { label: t("carts"), num: true },
    { label: t("purchases"), num: true }, { label: t("conversion"), num: true },
    { label: t("pushes"), num: true }], slotRows, { id: "slots" }));
  const pushes = card(t("pushes"), t("pushes_note"), chart("bar", days,
    [{ label: t("pushes"), data: d.days.map((x) => x.pushes) }],
    { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }));
  const today = d.days[d.days.length - 1];
  const counts = card(`${t("events")} (${today.day})`, null, table(
    [t("event"), { label: t("events"), num: true }],
    Object.entries(today.events).sort().map(([k, v]) => [ev(k), num(v)]), { id: "today-events" }),
    el("p", { class: "note" }, `${t("active_users")}: ${num(today.active_users)}, ` +
      `${t("new_users")}: ${num(today.new_users)}`));
  show(period, el("div", { class: "grid" }, dau, counts, funnel, byHour, retention, slots, pushes));
}

/* Users */

function itemsTable(items, id) {
  return table(["#", t("item"), t("title"), { label: t("score"), num: true }, t("reason")],
    items.map((item, i) => [String(i + 1), item.item_id, item.title || "–",
      item.score === null ? "–" : item.score.toFixed(3), item.reason || "–"]), { id });
}

async function users() {
  const input = el("input", { id: "user-id", placeholder: t("user_id"), maxlength: 256 });
  const result = el("div", { id: "user-result" });
  const lookUp = async (event) => {
    if (event) event.preventDefault();
    const id = input.value.trim();
    if (!id) return;
    history.replaceState(null, "", `?user=${encodeURIComponent(id)}`);
    result.replaceChildren(t("loading"));
    try {
      const u = await api(`/v1/admin/users/${encodeURIComponent(id)}`);
      const recs = u.recommendations.map((r) => card(`${t("recommendations")}: ${r.kind}`,
        [r.slot ? `${t("slot")}: ${r.slot}` : null, r.fallback ? t("fallback") : null,
          `${t("model")}: ${r.model.name} v${r.model.version}`,
          r.experiment ? `${t("experiment")}: ${r.experiment} / ${r.variant}` : null]
          .filter(Boolean).join(" · "), itemsTable(r.items, `recs-${r.kind}`)));
      const push = u.push;
      const pushCard = card(t("push_state"), null, el("dl", { class: "kv" },
        el("dt", {}, t("sent_today")), el("dd", {}, `${push.sent_today} / ${push.max_per_day}`),
        el("dt", {}, t("recently_pushed")), el("dd", {}, push.recently_pushed.join(", ") || t("none")),
        el("dt", {}, t("push_due")), el("dd", {}, push.due_slot
          ? `${push.due_slot}: ${push.due_items.map((i) => `${i.item_id} ${i.title || ""}`).join(", ")}`
          : `${t("no_push")} (${push.reason})`)));
      const ab = card(t("ab_variant"), null, u.experiments.length
        ? table([t("experiment"), t("variant"), t("kinds")],
          u.experiments.map((e) => [e.experiment, e.variant, e.kinds.join(", ") || "*"]))
        : el("p", {}, t("none")));
      const events = card(t("recent_events"), t("recent_events_note"), table(
        [t("time"), t("event"), t("item"), t("title")],
        u.recent_events.map((e) => [when(e.timestamp), ev(e.event), e.item_id, e.title || "–"]),
        { id: "recent-events" }));
      result.replaceChildren(
        el("p", {}, `${t("user_id")}: `, el("strong", {}, u.user_id),
          badge(`${t("known_user")}: ${u.known ? t("yes") : t("no")}`)),
        el("div", { class: "grid" }, ...recs, events, ab, pushCard));
    } catch (error) {
      result.replaceChildren(failure(error));
    }
  };
  const form = el("form", { class: "row", onsubmit: lookUp }, input,
    el("button", { type: "submit", id: "look-up" }, t("look_up")));
  show(form, result);
  const given = new URLSearchParams(window.location.search).get("user");
  if (given) {
    input.value = given;
    await lookUp();
  }
}

/* Items */

async function items() {
  const input = el("input", { id: "item-q", placeholder: t("search_hint"), maxlength: 200 });
  const results = el("div", { id: "item-results" });
  const detail = el("div", { id: "item-detail" });
  const open = async (id) => {
    try {
      const d = await api(`/v1/admin/items/${encodeURIComponent(id)}`);
      detail.replaceChildren(card(`${d.item.item_id} · ${d.item.title || ""}`, null,
        el("h2", {}, t("similar")), itemsTable(d.similar, "similar")));
    } catch (error) {
      detail.replaceChildren(failure(error));
    }
  };
  const search = async (event) => {
    if (event) event.preventDefault();
    try {
      const d = await api(`/v1/admin/items?limit=50&q=${encodeURIComponent(input.value.trim())}`);
      results.replaceChildren(card(`${t("items")} (${d.items.length} / ${num(d.total)})`, null,
        table([t("item"), t("title"), t("kind"), t("category"), t("available"), ""],
          d.items.map((item) => [
            el("a", { href: "#", "data-item": item.item_id,
              onclick: (e) => { e.preventDefault(); open(item.item_id); } }, item.item_id),
            item.title || "–", item.kind, item.category,
            badge(item.available ? t("yes") : t("no"), item.available ? "good" : "bad"),
            el("button", { class: item.marked_unavailable ? "secondary" : "danger",
              "data-toggle": item.item_id,
              onclick: async () => {
                await api(`/v1/admin/items/${encodeURIComponent(item.item_id)}/availability`,
                  "POST", { available: item.marked_unavailable });
                await search();
              } }, item.marked_unavailable ? t("mark_available") : t("mark_unavailable")),
          ]), { id: "items-table" })));
    } catch (error) {
      results.replaceChildren(failure(error));
    }
  };
  show(el("form", { class: "row", onsubmit: search }, input,
    el("button", { type: "submit", id: "item-search" }, t("search"))), results, detail);
  await search();
}

/* Experiments */

function interval(rate) {
  return rate.value === null ? "–" : `${pct(rate.value, 2)} [${pct(rate.low, 2)}, ${pct(rate.high, 2)}]`;
}

async function experimentDetail(name, box) {
  const [report, daily] = await Promise.all([
    api(`/v1/admin/experiments/${encodeURIComponent(name)}/report`),
    api(`/v1/admin/experiments/${encodeURIComponent(name)}/daily`)]);
  const rows = report.variants.map((v) => {
    const vs = v.vs_control.conversion;
    return [v.name, num(v.counts.users), num(v.counts.impressions), num(v.counts.clicks),
      num(v.counts.purchases), interval(v.ctr), interval(v.conversion),
      vs && vs.uplift !== null ? `${pct(vs.uplift)} [${pct(vs.low)}, ${pct(vs.high)}]` : "–",
      vs && vs.p_value !== null ? vs.p_value.toPrecision(2) : "–"];
  });
  const variants = Object.keys(daily.variants);
  const days = [...new Set(variants.flatMap((v) => daily.variants[v].map((p) => p.day)))].sort();
  const series = (key) => variants.map((v) => ({ label: `${v}`,
    data: days.map((day) => { const p = daily.variants[v].find((x) => x.day === day);
      return p && p[key].value !== null ? p[key].value : null; }), spanGaps: true }));
  const yPct = { scales: { y: { beginAtZero: true, ticks: { callback: (v) => pct(v, 1) } } } };
  box.replaceChildren(card(`${t("experiment")}: ${name}`, null,
    el("p", { id: "verdict" }, el("strong", {}, `${t("verdict")}: `), report.verdict),
    table([t("variant"), { label: t("users"), num: true }, { label: t("impressions"), num: true },
      { label: t("clicks"), num: true }, { label: t("purchases"), num: true },
      `${t("ctr")} (${t("interval")})`, `${t("conversion")} (${t("interval")})`, t("uplift"),
      t("p_value")], rows, { id: "report" })),
  el("div", { class: "grid" },
    card(t("by_day"), t("by_day_note"), chart("line", days, series("conversion"), yPct)),
    card(t("cumulative"), t("by_day_note"), chart("line", days, series("cumulative_conversion"), yPct))),
  card(`${t("per_day")} (${t("interval")})`, null, table(
    [t("day"), t("variant"), { label: t("impressions"), num: true }, t("ctr"), t("conversion"),
      `${t("cumulative_short")} ${t("ctr")}`, `${t("cumulative_short")} ${t("conversion")}`],
    days.flatMap((day) => variants.map((v) => [v, daily.variants[v].find((p) => p.day === day)])
      .filter(([, p]) => p).map(([v, p]) => [day, v, num(p.impressions), interval(p.ctr),
        interval(p.conversion), interval(p.cumulative_ctr), interval(p.cumulative_conversion)])),
    { id: "daily" })));
}

async function experiments() {
  const [list, overviewData] = await Promise.all([api("/v1/admin/experiments"), api("/v1/admin/overview")]);
  const box = el("div", { id: "experiment-detail" });
  const message = el("p", { class: "note", role: "status" });
  const rows = list.map((e) => [
    el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); experimentDetail(e.name, box).catch((err) => box.replaceChildren(failure(err))); } }, e.name),
    badge(e.status, e.status === "running" ? "good" : ""), e.kinds.join(", ") || "*",
    e.variants.map((v) => `${v.name}: ${v.model} v${v.version} (${v.weight})`).join("; "),
    when(e.started_at),
    e.status === "running" ? el("button", { class: "danger", onclick: async () => {
      try { await api(`/v1/admin/experiments/${encodeURIComponent(e.name)}/stop`, "POST", {});
        window.location.reload(); } catch (error) { message.replaceChildren(failure(error)); } } }, t("stop")) : "",
  ]);
  const versions = overviewData.models.flatMap((m) => [m.live, ...m.retained].filter(Boolean));
  const choice = (id) => el("select", { id }, versions.map((v) =>
    el("option", { value: `${v.name}\u0000${v.version}` }, `${v.name} v${v.version}`)));
  const name = el("input", { id: "exp-name", placeholder: t("name"), maxlength: 100, required: true });
  const control = choice("exp-control");
  const treatment = choice("exp-treatment");
  const kind = el("select", { id: "exp-kind" }, el("option", { value: "" }, "*"),
    el("option", { value: "product" }, "product"), el("option", { value: "content" }, "content"));
  const start = el("form", { class: "row", onsubmit: async (event) => {
    event.preventDefault();
    const variant = (label, select) => { const [model, version] = select.value.split("\u0000");
      return { name: label, model, version, weight: 50 }; };
    try {
      await api("/v1/admin/experiments", "POST", { name: name.value.trim(),
        kinds: kind.value ? [kind.value] : [],
        variants: [variant("control", control), variant("treatment", treatment)] });
      window.location.reload();
    } catch (error) { message.replaceChildren(failure(error)); }
  } }, name, el("label", {}, `${t("control")} `, control), el("label", {}, `${t("treatment")} `, treatment),
  el("label", {}, `${t("kinds")} `, kind), el("button", { type: "submit" }, t("start")));
  show(card(t("experiments"), null, list.length ? table([t("name"), t("status"), t("kinds"),
    t("variants"), t("started"), ""], rows, { id: "experiments" }) : el("p", {}, t("no_experiments"))),
  box, card(t("start_experiment"), null, start, message));
  const running = list.find((e) => e.status === "running") || list[0];
  if (running) await experimentDetail(running.name, box);
}

/* Deploy */

async function deploy(note = "") {
  const d = await api("/v1/admin/overview");
  const message = el("p", { role: "status", id: "deploy-message" }, note);
  const cards = d.models.map((m) => {
    const versions = [m.live, ...m.retained].filter(Boolean);
    return card(`${t("model")}: ${m.name}`, null, table(
      [t("version"), t("published_at"), t("algorithm"), t("metrics"), ""],
      versions.map((v) => [v.version, when(v.published_at), v.algorithm,
        Object.entries(v.metrics).sort().slice(0, 3).map(([k, x]) => `${k} ${x.toFixed(3)}`).join(", ") || "–",
        v.live ? badge(t("live"), "good") : el("button", { "data-make-live": v.version,
          onclick: () => {
            const confirm = el("div", { class: "card", id: "confirm" },
              el("p", {}, `${m.name} v${v.version}: ${t("confirm_live")}`),
              el("div", { class: "row" },
                el("button", { id: "confirm-live", onclick: async () => {
                  try {
                    await api(`/v1/admin/models/${encodeURIComponent(m.name)}/live`, "POST", { version: v.version });
                    await deploy(`${m.name} v${v.version}: ${t("done")}`);
                  } catch (error) { message.replaceChildren(failure(error)); }
                } }, t("confirm")),
                el("button", { class: "secondary", onclick: () => confirm.remove() }, t("cancel"))));
            message.replaceChildren(confirm);
          } }, t("make_live"))]), { id: `versions-${m.name}` }));
  });
  show(message, ...(cards.length ? cards : [el("p", {}, t("no_live"))]));
}

const PAGES = { overview, monitoring, users, items, experiments, deploy };
const page = PAGES[document.body.dataset.page];
if (page) {
  page().catch((error) => show(failure(error)));
}
