"use strict";
// ShopPulse dashboard: plain DOM + hand-drawn SVG, no library, no network beyond the API.
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const DAY_MS = 86400000;
  const page = new URLSearchParams(location.search);
  // The API lives where the page does (behind any stage prefix), or at ?api=<url> (CORS).
  const API = (page.get("api") || location.pathname).replace(/\/?$/, "/");
  const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 2 });
  const moneyShort = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 1 });
  const count = new Intl.NumberFormat("en-US");
  const percent = new Intl.NumberFormat("en-US", { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const percentAxis = new Intl.NumberFormat("en-US", { style: "percent", maximumFractionDigits: 1 });
  const $ = (id) => document.getElementById(id);
  // The KPI fields' labels and units, rendered into the page from their one definition
  // (chalicelib/kpi_fields.py): {table: {field: {label, unit}}}. Every [data-label="Table.field"] shows its
  // label (then its data-label-suffix).
  const FIELDS = JSON.parse($("kpi-fields").textContent);
  const label = (path) => {
    const [table, name] = path.split(".");
    return FIELDS[table][name].label;
  };
  for (const node of document.querySelectorAll("[data-label]")) node.textContent = label(node.dataset.label) + (node.dataset.labelSuffix || "");
  const byUnit = { money: (v) => money.format(v), rate: (v) => percent.format(v), count: (v) => count.format(v) };
  const state = { from: null, to: null, day: null, days: [] };

  // ---- data access ---------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.Message) || `HTTP ${status}`);
      this.status = status;
    }
  }

  async function api(path) {
    const headers = {};
    const key = localStorage.getItem("shoppulse.apiKey");
    if (key) headers["x-api-key"] = key;
    const response = await fetch(API + path, { headers });
    const body = await response.json().catch(() => null);
    if (response.status === 401 || response.status === 403) $("key-field").hidden = false;
    if (!response.ok) throw new ApiError(response.status, body);
    if (body && body.unreadable) showUnreadable(body.unreadable);
    return body;
  }

  // Items the API could not serve (docs/api.md, "unreadable"): named, never silently dropped.
  const unreadable = new Map();
  function showUnreadable(items) {
    for (const item of items) unreadable.set(JSON.stringify(item.key), `${Object.values(item.key).join(" / ")} (${item.reason})`);
    const box = $("unreadable");
    box.hidden = false;
    box.textContent = `${unreadable.size === 1 ? "1 stored item" : `${unreadable.size} stored items`} could not be shown: ${[...unreadable.values()].slice(0, 3).join("; ")}${unreadable.size > 3 ? "; …" : ""}`;
  }

  async function allPages(path) {
    const items = [];
    let token = null;
    do {
      const body = await api(path + (token ? `&next_token=${encodeURIComponent(token)}` : ""));
      items.push(...body.items);
      token = body.next_token;
    } while (token);
    return items;
  }

  // ---- dates -----------------------------------------------------------------------------
  const iso = (d) => d.toISOString().slice(0, 10);
  const parse = (s) => new Date(`${s}T00:00:00Z`);
  const addDays = (s, n) => iso(new Date(parse(s).getTime() + n * DAY_MS));
  const shortDate = (s) => parse(s).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
  const longDate = (s) => parse(s).toLocaleDateString("en-US", { weekday: "short", year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
  const stamp = (s) => (s ? new Date(s).toLocaleString("en-GB", { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "UTC" }) : "–");

  // The latest day with KPIs: this range first, then whole years back (a Query each).
  async function latestDay(today) {
    const recent = await api(`kpis/daily?from=${addDays(today, -89)}&to=${today}`);
    if (recent.items.length) return recent.items[recent.items.length - 1].order_date;
    const year = Number(today.slice(0, 4));
    for (let y = year - 1; y >= year - 5; y -= 1) {
      const items = await allPages(`kpis/daily?from=${y}-01-01&to=${y}-12-31`);
      if (items.length) return items[items.length - 1].order_date;
    }
    return today;
  }

  // The default range: up to 90 days before `to`, cut to where the data starts, so the page
  // opens on the days that hold data (a week ending `to` when there is none).
  async function firstDayNear(to) {
    const recent = await api(`kpis/daily?from=${addDays(to, -89)}&to=${to}`);
    return recent.items.length ? recent.items[0].order_date : addDays(to, -6);
  }

  // A day's numbers are incomplete while some of its order items wait for their order or product
  // (`items_waiting` of /kpis/daily, see docs/api.md): they count once that file arrives.
  const waiting = (d) => Number(d.items_waiting) || 0;

  // ---- SVG helpers -----------------------------------------------------------------------
  function el(name, attrs = {}, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function html(name, attrs = {}, children = []) {
    const node = document.createElement(name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    for (const child of [].concat(children)) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  // The top of an axis with 4 round steps (0, s, 2s, 3s, 4s) that holds `value`.
  function niceMax(value) {
    if (!(value > 0)) return 1;
    const raw = value / 4;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * magnitude).find((s) => s >= raw);
    return 4 * step;
  }

  // A time-series chart over [state.from, state.to]: bars or an area line, one hit zone per day.
  function timeChart(container, points, { color, kind, format, axisFormat, max }) {
    container.replaceChildren();
    if (!points.length) {
      container.append(html("p", { class: "empty" }, "No KPIs in this range."));
      return;
    }
    const W = Math.max(container.clientWidth, 320);
    const H = kind === "area" ? 240 : 200;
    const m = { top: 12, right: 14, bottom: 26, left: 58 };
    const w = W - m.left - m.right;
    const h = H - m.top - m.bottom;
    const span = Math.round((parse(state.to) - parse(state.from)) / DAY_MS) + 1;
    const slot = w / span;
    const top = max || niceMax(Math.max(...points.map((p) => p.y)));
    const x = (d) => ((parse(d) - parse(state.from)) / DAY_MS) * slot + slot / 2;
    const y = (v) => h - (v / top) * h;
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "data-points": points.length, "aria-label": container.dataset.label || "" });
    const g = el("g", { transform: `translate(${m.left},${m.top})` });
    const grid = el("g", { class: "grid axis" });
    for (let i = 0; i <= 4; i += 1) {
      const v = (top * i) / 4;
      grid.append(el("line", { x1: 0, x2: w, y1: y(v), y2: y(v) }));
      grid.append(el("text", { x: -8, y: y(v) + 4, "text-anchor": "end" }, axisFormat(v)));
    }
    // Evenly spaced date labels, about one per 90 px.
    const step = Math.max(1, Math.ceil((span - 1) / Math.max(Math.floor(w / 90) - 1, 1)));
    for (let n = 0; n < span; n += step) {
      const d = addDays(state.from, n);
      grid.append(el("text", { x: x(d), y: h + 18, "text-anchor": "middle" }, shortDate(d)));
    }
    g.append(grid);
    const series = el("g", { class: "series" });
    if (kind === "bar") {
      const bw = Math.max(1, slot * 0.72);
      for (const p of points) series.append(el("rect", { class: "bar", x: x(p.x) - bw / 2, y: y(p.y), width: bw, height: Math.max(0, h - y(p.y)), fill: color, rx: Math.min(2, bw / 3) }));
    } else {
      const line = points.map((p, i) => `${i ? "L" : "M"}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join("");
      if (kind === "area") series.append(el("path", { d: `${line}L${x(points[points.length - 1].x).toFixed(1)},${h}L${x(points[0].x).toFixed(1)},${h}Z`, fill: color, opacity: 0.12 }));
      series.append(el("path", { class: "line", d: line, fill: "none", stroke: color, "stroke-width": 2, "stroke-linejoin": "round" }));
      if (points.length <= 62) for (const p of points) series.append(el("circle", { class: "dot", cx: x(p.x), cy: y(p.y), r: 2.5, fill: color }));
    }
    g.append(series);
    for (const p of points.filter((q) => q.waiting)) {
      g.append(el("rect", { class: "incomplete-day", x: x(p.x) - slot / 2, y: 0, width: slot, height: 4, "data-day": p.x }));
    }
    if (state.day && state.day >= state.from && state.day <= state.to) g.append(el("line", { class: "selected-day", x1: x(state.day), x2: x(state.day), y1: 0, y2: h }));
    for (const p of points) {
      const hit = el("rect", { class: "day-hit", x: x(p.x) - slot / 2, y: 0, width: slot, height: h, "data-day": p.x });
      const incomplete = p.waiting ? ` (incomplete: ${count.format(p.waiting)} items waiting)` : "";
      hit.append(el("title", {}, `${longDate(p.x)}: ${format(p.y)}${incomplete}`));
      hit.addEventListener("click", () => selectDay(p.x));
      g.append(hit);
    }
    svg.append(g);
    container.append(svg);
  }

  // Horizontal bars, one per category (already ordered by revenue by the API).
  function categoryChart(container, items) {
    container.replaceChildren();
    if (!items.length) {
      container.append(html("p", { class: "empty" }, "No category KPIs for this day."));
      return;
    }
    const W = Math.max(container.clientWidth, 420);
    const row = 26;
    const label = Math.min(220, W * 0.28);
    // One column per KPI of a category-day, as the definition lists them.
    const columns = Object.entries(FIELDS.CategoryKpis)
      .filter(([, f]) => f.unit in byUnit)
      .map(([name, f], n) => [f.label, 140 * (n + 1), (i) => byUnit[f.unit](i[name])]);
    const values = 140 * columns.length + 8;
    const bars = W - label - values;
    const top = niceMax(Math.max(...items.map((i) => i.daily_revenue)));
    const svg = el("svg", { viewBox: `0 0 ${W} ${items.length * row + 22}`, role: "img", "data-categories": items.length });
    for (const [title, right] of columns) svg.append(el("text", { class: "cat-head", x: label + bars + right, y: 12, "text-anchor": "end" }, title));
    items.forEach((item, i) => {
      const yy = 22 + i * row;
      const g = el("g", { class: "category", "data-category": item.category });
      g.append(el("text", { class: "cat-label", x: label - 10, y: yy + 16, "text-anchor": "end" }, item.category.length > 30 ? `${item.category.slice(0, 29)}…` : item.category));
      g.append(el("rect", { x: label, y: yy + 4, width: bars, height: row - 10, fill: "#eef2f7", rx: 3 }));
      g.append(el("rect", { class: "bar", x: label, y: yy + 4, width: Math.max(1, (item.daily_revenue / top) * bars), height: row - 10, fill: "var(--revenue)", rx: 3 }));
      for (const [, right, value] of columns) g.append(el("text", { class: "cat-value", x: label + bars + right, y: yy + 16, "text-anchor": "end" }, value(item)));
      g.append(el("title", {}, item.category));
      svg.append(g);
    });
    container.append(svg);
  }

  // ---- panels ----------------------------------------------------------------------------
  function showTotals(days) {
    const orders = days.reduce((s, d) => s + d.total_orders, 0);
    const revenue = days.reduce((s, d) => s + d.total_revenue, 0);
    const returned = days.reduce((s, d) => s + d.return_rate * d.total_orders, 0);
    const totals = {
      revenue: money.format(revenue),
      orders: count.format(orders),
      aov: orders ? money.format(revenue / orders) : "–",
      return_rate: orders ? percent.format(returned / orders) : "–",
      items: count.format(days.reduce((s, d) => s + d.total_items_sold, 0)),
    };
    for (const [k, v] of Object.entries(totals)) document.querySelector(`[data-total="${k}"]`).textContent = v;
  }

  function showIncomplete(days) {
    const partial = days.filter(waiting);
    const box = $("incomplete");
    box.hidden = !partial.length;
    const items = partial.reduce((s, d) => s + waiting(d), 0);
    const names = partial.slice(0, 5).map((d) => shortDate(d.order_date)).join(", ") + (partial.length > 5 ? ", …" : "");
    box.textContent = partial.length
      ? `Incomplete: ${partial.length === 1 ? "1 day" : `${partial.length} days`} (${names}) with ${count.format(items)} order items waiting for their order or product file; their numbers grow when it arrives.`
      : "";
  }

  function drawDaily() {
    const days = state.days;
    showTotals(days);
    showIncomplete(days);
    const points = (value) => days.map((d) => ({ x: d.order_date, y: value(d), waiting: waiting(d) }));
    timeChart($("chart-revenue"), points((d) => d.total_revenue), { color: "var(--revenue)", kind: "area", format: money.format, axisFormat: moneyShort.format });
    timeChart($("chart-orders"), points((d) => d.total_orders), { color: "var(--orders)", kind: "bar", format: count.format, axisFormat: count.format });
    const worst = Math.max(0, ...days.map((d) => d.return_rate));
    timeChart($("chart-returns"), points((d) => d.return_rate), { color: "var(--returns)", kind: "line", format: percent.format, axisFormat: percentAxis.format, max: Math.min(1, niceMax(worst || 0.04)) });
  }

  async function selectDay(day) {
    state.day = day;
    $("category-day").value = day;
    const shown = state.days.find((d) => d.order_date === day);
    $("category-day-label").textContent = longDate(day) + (shown && waiting(shown) ? ` (incomplete: ${count.format(waiting(shown))} items waiting)` : "");
    drawDaily();
    const body = await api(`kpis/categories?date=${day}`);
    categoryChart($("category-chart"), body.items);
  }

  function outcome(run) {
    const parts = [];
    for (const task of ["validation", "transformation"]) {
      const summary = run[task];
      if (!summary || typeof summary !== "object") continue;
      for (const [k, v] of Object.entries(summary)) if (typeof v === "number") parts.push(`${k.replace(/_/g, " ")} ${count.format(v)}`);
    }
    // A rejected file says why in its validation summary; a failed workflow in `error`.
    const rejected = run.validation && run.validation.reason;
    const reason = rejected ? [rejected, run.validation.detail].filter(Boolean).join(": ") : run.error && (run.error.cause || run.error.error);
    return [parts.join(" · ") || "–", reason ? html("span", { class: "sub" }, String(reason).slice(0, 160)) : ""];
  }

  async function loadRuns() {
    const body = await api("runs?limit=10");
    const rows = body.items.map((run) => html("tr", { "data-run": run.run_id }, [
      html("td", {}, [String(run.key || run.run_id).split("/").pop(), html("span", { class: "sub" }, run.run_id)]),
      html("td", {}, html("span", { class: `badge ${run.status}` }, run.status)),
      html("td", { class: "when" }, stamp(run.started_at)),
      html("td", {}, outcome(run)),
    ]));
    $("runs-body").replaceChildren(...(rows.length ? rows : [html("tr", {}, html("td", { colspan: 4, class: "empty" }, "No file processed yet."))]));
  }

  async function loadCases() {
    const body = await api("premium-cases?status=open&limit=10");
    const rows = body.items.map((c) => html("tr", { "data-case": c.orderId }, [
      html("td", {}, [c.orderId, c.customer_email ? html("span", { class: "sub" }, c.customer_email) : ""]),
      html("td", { class: "num" }, money.format(c.amount)),
      html("td", { class: "when" }, stamp(c.opened_at)),
      html("td", {}, html("span", { class: `badge ${c.case_status}` }, c.case_status)),
    ]));
    $("cases-body").replaceChildren(...(rows.length ? rows : [html("tr", {}, html("td", { colspan: 4, class: "empty" }, "No open premium case."))]));
  }

  function notice(text, isError) {
    const box = $("notice");
    box.hidden = !text;
    box.textContent = text || "";
    box.classList.toggle("error", Boolean(isError));
  }

  async function loadRange(from, to) {
    state.from = from;
    state.to = to;
    for (const [id, value] of [["from", from], ["to", to]]) {
      $(id).value = value;
      $(id).setAttribute("value", value); // the range shown stays visible in the document too
    }
    history.replaceState(null, "", `?${new URLSearchParams({ ...Object.fromEntries(page), from, to })}`);
    state.days = await allPages(`kpis/daily?from=${from}&to=${to}`);
    drawDaily();
    const last = state.days.length ? state.days[state.days.length - 1].order_date : to;
    await selectDay(state.day && state.day >= from && state.day <= to ? state.day : last);
  }

  // Each panel reports its own failure; the page is "ready" when all have settled.
  async function guarded(task) {
    try {
      await task();
    } catch (err) {
      notice(`Could not load: ${err.message}`, true);
    }
  }

  async function start() {
    const today = iso(new Date());
    let to = page.get("to");
    let from = page.get("from");
    state.day = page.get("day");
    await guarded(async () => {
      if (!to) to = await latestDay(today);
      if (!from) from = await firstDayNear(to);
      await loadRange(from, to);
    });
    await Promise.all([guarded(loadRuns), guarded(loadCases)]);
    document.body.dataset.state = "ready";
  }

  $("range").addEventListener("submit", (e) => {
    e.preventDefault();
    notice("");
    guarded(() => loadRange($("from").value, $("to").value));
  });
  for (const b of document.querySelectorAll("[data-days]")) {
    b.addEventListener("click", () => {
      const to = $("to").value || iso(new Date());
      guarded(() => loadRange(addDays(to, 1 - Number(b.dataset.days)), to));
    });
  }
  $("category-day").addEventListener("change", (e) => e.target.value && guarded(() => selectDay(e.target.value)));
  $("api-key").addEventListener("change", (e) => {
    localStorage.setItem("shoppulse.apiKey", e.target.value);
    location.reload();
  });
  $("openapi-link").href = `${API}openapi.json`;
  let resized;
  addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(() => { drawDaily(); guarded(() => selectDay(state.day)); }, 150);
  });
  start();
})();
