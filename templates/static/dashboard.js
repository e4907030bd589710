// The dashboard: polls the data route and draws what changed between two readings.
// The data are cumulative counts (every worker's); rates come from their differences,
// percentiles from the differences of histogram buckets. The charts are SVG drawn here,
// with no library. Data goes into the DOM as text only.
"use strict";

(() => {
  const root = document.getElementById("dashboard");
  const SOURCE = root.dataset.source;
  const POLL_MS = Number(root.dataset.pollMs) || 2000;
  const KEPT = 150; // points per chart: five minutes at 2 s
  const WINDOW_S = (KEPT * POLL_MS) / 1000;
  const COLORS = 6; // series classes s0..s5 in patchbay.css
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  const TILE_S = 60; // the tiles cover the last minute
  const points = []; // one per interval between two readings
  const readings = []; // the last minute's readings, for the tiles
  const modelOrder = []; // tokens chart: models in order of first appearance, so colors stay
  let previous = null;
  let latest = null;

  // ---- DOM ---------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function shape(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- numbers -----------------------------------------------------------------------

  const known = (v) => v !== null && v !== undefined && Number.isFinite(v);

  // Up to `digits` decimals, none where they would all be zero.
  const decimals = (v, digits) => String(Number(v.toFixed(digits)));

  function rate(v) {
    if (!known(v)) return "–";
    if (v === 0) return "0";
    if (v < 0.1) return decimals(v, 3);
    if (v < 10) return decimals(v, 2);
    if (v < 1000) return decimals(v, 1);
    return count(v);
  }

  function seconds(s) {
    if (!known(s)) return "–";
    if (s < 0.01) return `${decimals(s * 1000, 1)} ms`;
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    return `${decimals(s, s < 10 ? 2 : 1)} s`;
  }

  const percent = (v) => (known(v) ? `${decimals(v, v < 10 ? 1 : 0)} %` : "–");
  const count = (n) => Math.round(n).toLocaleString("en-US");

  function ago(unix) {
    const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return new Date(unix * 1000).toLocaleString();
  }

  // The q-th quantile of the observations between two readings of a cumulative histogram,
  // interpolated inside its bucket as Prometheus' histogram_quantile does; null for none.
  function quantile(q, now, before) {
    const total = now.count - before.count;
    if (total <= 0) return null;
    const rank = q * total;
    let lower = 0;
    let below = 0;
    for (let i = 0; i < now.le.length; i += 1) {
      const upto = now.counts[i] - before.counts[i];
      if (upto >= rank) {
        const inside = upto - below;
        return lower + (now.le[i] - lower) * (inside > 0 ? (rank - below) / inside : 0);
      }
      lower = now.le[i];
      below = upto;
    }
    return lower; // in the +Inf bucket: the largest finite bound is all that is known
  }

  function tokensOf(data) {
    const out = {};
    for (const [model, types] of Object.entries(data.tokens)) {
      out[model] = (types.prompt || 0) + (types.completion || 0);
    }
    return out;
  }

  // One point from two readings; null when the counts went back (a worker started afresh).
  function pointBetween(now, before) {
    const dt = now.time - before.time;
    const requests = now.requests.total - before.requests.total;
    if (dt <= 0 || requests < 0 || now.duration_seconds.count < before.duration_seconds.count) return null;
    const errors5 = now.requests.errors_5xx - before.requests.errors_5xx;
    const errors4 = now.requests.errors_4xx - before.requests.errors_4xx;
    const tokensNow = tokensOf(now);
    const tokensBefore = tokensOf(before);
    const tokens = {};
    for (const [model, total] of Object.entries(tokensNow)) {
      tokens[model] = (Math.max(0, total - (tokensBefore[model] || 0)) / dt) * 60;
      if (!modelOrder.includes(model)) modelOrder.push(model);
    }
    return {
      t: now.time,
      rps: requests / dt,
      errors5: requests > 0 ? (100 * errors5) / requests : null,
      errors4: requests > 0 ? (100 * errors4) / requests : null,
      p50: quantile(0.5, now.duration_seconds, before.duration_seconds),
      p95: quantile(0.95, now.duration_seconds, before.duration_seconds),
      t50: quantile(0.5, now.first_token_seconds, before.first_token_seconds),
      t95: quantile(0.95, now.first_token_seconds, before.first_token_seconds),
      tokens,
      tpm: Object.values(tokens).reduce((a, b) => a + b, 0),
    };
  }

  // ---- the chart drawer ----------------------------------------------------------------

  // The y axis for values up to `v`: a round top (1, 2, 2.5 or 5 times a power of ten)
  // and the number of steps that keeps every tick round too.
  function axis(v) {
    if (!(v > 0)) return { top: 1, steps: 4 };
    const power = 10 ** Math.floor(Math.log10(v));
    for (const lead of [1, 2, 2.5, 5, 10]) {
      if (lead * power >= v * 0.999) return { top: lead * power, steps: lead === 2.5 || lead === 5 ? 5 : 4 };
    }
    return { top: 10 * power, steps: 4 };
  }

  // Draw `lines` ({name, label, value(point)}) over the kept points into `node` (an <svg>):
  // a fixed five-minute window ending at the latest reading, y from 0 to a round top.
  function drawChart(node, lines, format, floor) {
    const width = Math.max(node.clientWidth, 240);
    const height = Math.max(node.clientHeight, 120);
    const pad = { left: 56, right: 12, top: 10, bottom: 22 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    node.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const values = points.flatMap((p) => lines.map((line) => line.value(p))).filter(known);
    const { top, steps } = axis(Math.max(floor, ...values));
    const end = points.length ? points[points.length - 1].t : 0;
    const x = (t) => pad.left + plotW * (1 - (end - t) / WINDOW_S);
    const y = (v) => pad.top + plotH * (1 - v / top);
    const parts = [];
    for (let i = 0; i <= steps; i += 1) {
      const v = (top * i) / steps;
      parts.push(shape("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }));
      parts.push(shape("text", { class: "tick", x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, format(v)));
    }
    for (let m = 0; m <= WINDOW_S / 60; m += 1) {
      const label = m === 0 ? "now" : `−${m} min`;
      const anchor = m === 0 ? "end" : "middle";
      parts.push(shape("text", { class: "tick", x: x(end - m * 60), y: height - 6, "text-anchor": anchor }, label));
    }
    let drawn = 0;
    lines.forEach((line, index) => {
      const series = `s${line.color === undefined ? index % COLORS : line.color % COLORS}`;
      let d = "";
      let run = 0;
      let last = null;
      for (const point of points) {
        const v = line.value(point);
        if (!known(v)) {
          if (run === 1) d += " l0.01 0"; // a lone point still shows, as a round dot
          run = 0;
          continue;
        }
        const px = x(point.t).toFixed(1);
        const py = y(Math.min(v, top)).toFixed(1);
        d += `${run === 0 ? " M" : " L"}${px} ${py}`;
        run += 1;
        drawn += 1;
        last = [px, py];
      }
      if (run === 1) d += " l0.01 0";
      if (!d) return;
      parts.push(shape("path", { class: `line ${series}`, d: d.trim(), "data-series": line.name }));
      if (last) parts.push(shape("circle", { class: `dot ${series}`, cx: last[0], cy: last[1], r: 3 }));
    });
    if (!drawn) {
      const words = points.length ? "no traffic in this window" : "waiting for a second reading…";
      parts.push(shape("text", { class: "empty", x: pad.left + plotW / 2, y: pad.top + plotH / 2, "text-anchor": "middle" }, words));
    }
    node.dataset.points = String(drawn);
    node.replaceChildren(...parts);
  }

  function legend(id, lines, format) {
    const point = points[points.length - 1];
    $(id).replaceChildren(...lines.map((line, index) => {
      const series = `s${line.color === undefined ? index % COLORS : line.color % COLORS}`;
      return el("span", { class: "key", "data-series": line.name },
        el("span", { class: `swatch ${series}` }),
        `${line.label} `,
        el("strong", { text: point ? format(line.value(point)) : "–" }));
    }));
  }

  const CHARTS = [
    { id: "rps", format: rate, floor: 1, lines: [{ name: "rps", label: "requests/s", value: (p) => p.rps }] },
    {
      id: "errors", format: percent, floor: 5, lines: [
        { name: "5xx", label: "5xx", value: (p) => p.errors5, color: 2 },
        { name: "4xx", label: "4xx", value: (p) => p.errors4, color: 1 },
      ],
    },
    {
      id: "latency", format: seconds, floor: 0.01, lines: [
        { name: "p50", label: "p50", value: (p) => p.p50 },
        { name: "p95", label: "p95", value: (p) => p.p95, color: 1 },
      ],
    },
    {
      id: "ttft", format: seconds, floor: 0.01, lines: [
        { name: "p50", label: "p50", value: (p) => p.t50, color: 3 },
        { name: "p95", label: "p95", value: (p) => p.t95, color: 4 },
      ],
    },
  ];

  function tokenLines() {
    return modelOrder.map((model, index) => ({
      name: model, label: model, color: index, value: (p) => (p.tokens[model] === undefined ? 0 : p.tokens[model]),
    }));
  }

  function drawAll() {
    for (const chart of CHARTS) {
      drawChart($(`chart-${chart.id}`), chart.lines, chart.format, chart.floor);
      legend(`legend-${chart.id}`, chart.lines, chart.format);
    }
    const lines = tokenLines();
    drawChart($("chart-tokens"), lines, count, 10);
    legend("legend-tokens", lines, count);
  }

  // ---- the rest of the reading -------------------------------------------------------

  // The tiles: the last minute, from the oldest reading kept within it to the latest.
  function renderTiles() {
    const point = readings.length > 1 ? pointBetween(latest, readings[0]) : null;
    $("stat-rps").textContent = point ? rate(point.rps) : "–";
    $("stat-errors").textContent = point ? percent(point.errors5) : "–";
    $("stat-latency").textContent = point ? seconds(point.p95) : "–";
    $("stat-ttft").textContent = point ? seconds(point.t95) : "–";
    $("stat-tpm").textContent = point ? count(point.tpm) : "–";
    $("stat-total").textContent = count(latest.requests.total);
    $("stat-total-note").textContent =
      `${count(latest.requests.errors_5xx)} 5xx · ${count(latest.requests.errors_4xx)} 4xx`;
  }

  function renderConfig(data) {
    $("config-hash").textContent = data.config.hash.slice(0, 12);
    $("config-hash").title = data.config.hash;
    $("config-age").textContent = ago(data.config.loaded_at);
    const shared = data.shared_state;
    const where = shared.backend === "redis" ? "Redis" : "memory";
    const state = $("shared-state");
    state.textContent = shared.ok ? `${where} · ok` : `${where} · failing since ${ago(shared.failing_since)}`;
    state.className = shared.ok ? "health-ok" : "health-failing";
    state.dataset.state = shared.ok ? "ok" : "failing";
    const alerts = [];
    if (!shared.ok) {
      alerts.push(el("div", { class: "alert warn", role: "alert", text:
        `Shared state (Redis) has failed since ${new Date(shared.failing_since * 1000).toLocaleTimeString()}: ` +
        "each worker counts limits and cooldowns in its own memory meanwhile." }));
    }
    if (data.config.serving_last_good) {
      alerts.push(el("div", { class: "alert warn", text:
        "The files on disk are invalid: serving the last good config kept in the state directory." }));
    }
    $("alerts").replaceChildren(...alerts);
  }

  function outcomes(attempts) {
    const names = Object.keys(attempts).sort((a, b) => (a === "ok" ? -1 : b === "ok" ? 1 : a.localeCompare(b)));
    if (!names.length) return el("span", { class: "muted", text: "none yet" });
    return el("span", {}, ...names.map((name) =>
      el("span", { class: `outcome ${name === "ok" ? "health-ok" : "health-failing"}`, text: `${name} ${count(attempts[name])}` })));
  }

  const STATUS = { active: "active", disabled: "switched off", missing_key: "missing key" };

  function renderProviders(providers) {
    const unwell = providers.filter((p) => p.health && p.health !== "ok").length;
    $("providers-count").textContent = unwell ? `${unwell} of ${providers.length} unwell` : `${providers.length} providers`;
    $("providers").replaceChildren(...providers.map((p) =>
      el("tr", { "data-provider": p.name, "data-health": p.health || "off" },
        el("td", {}, el("strong", { text: p.name }), el("span", { class: "muted small", text: ` ${p.kind}` })),
        el("td", {}, el("span", { class: `badge state-${p.status}`, text: STATUS[p.status] || p.status })),
        el("td", {}, p.health ? el("span", { class: `badge health health-${p.health}`, text: p.health }) : el("span", { class: "muted", text: "–" })),
        el("td", { class: "num-cell", text: `${p.models.ok} · ${p.models.cooling} · ${p.models.failing}` }),
        el("td", {}, outcomes(p.attempts)),
        el("td", { class: "small" }, ...Object.entries(p.unwell).map(([model, state]) =>
          el("div", {}, el("code", { text: model }), ` ${state}`))))
    ));
  }

  function renderReloads(reloads) {
    const c = reloads.counts;
    $("reloads-count").textContent = `${c.applied || 0} applied · ${c.rejected || 0} rejected · ${c.unchanged || 0} unchanged`;
    const items = reloads.history.slice().reverse().map((r) =>
      el("li", { class: `reload result-${r.result}`, "data-result": r.result },
        el("div", { class: "reload-head" },
          el("span", { class: `badge result ${r.result === "applied" ? "health-ok" : "health-failing"}`, text: r.result }),
          el("code", { text: r.config_hash.slice(0, 12), title: r.config_hash }),
          el("span", { class: "muted small", text: ago(r.at), title: new Date(r.at * 1000).toLocaleString() })),
        el("ul", { class: r.result === "rejected" ? "problems" : "changes" },
          ...(r.result === "rejected" ? r.problems : r.changes).map((line) => el("li", {}, el("code", { text: line })))))
    );
    if (!items.length) items.push(el("li", { class: "muted empty", text: "No edit applied or rejected since the start." }));
    $("reloads").replaceChildren(...items);
  }

  function renderTokens(tokens) {
    const models = Object.keys(tokens).sort();
    $("tokens-count").textContent = `${models.length} model${models.length === 1 ? "" : "s"}`;
    const rows = models.map((model) =>
      el("tr", { "data-model": model },
        el("td", {}, el("code", { text: model })),
        ...["prompt", "completion", "cached", "reasoning"].map((type) =>
          el("td", { class: "num", text: count(tokens[model][type] || 0) }))));
    if (!rows.length) rows.push(el("tr", {}, el("td", { class: "muted", colspan: "5", text: "No tokens counted yet." })));
    $("tokens").replaceChildren(...rows);
  }

  // ---- polling -----------------------------------------------------------------------

  function show(data) {
    if (previous) {
      const point = pointBetween(data, previous);
      if (point) {
        points.push(point);
        if (points.length > KEPT) points.splice(0, points.length - KEPT);
      } else {
        readings.length = 0; // the counts went back: the tiles' minute starts again
      }
    }
    previous = latest = data;
    readings.push(data);
    while (readings.length > 2 && data.time - readings[1].time >= TILE_S) readings.shift();
    drawAll();
    renderTiles();
    renderConfig(data);
    renderProviders(data.providers);
    renderReloads(data.reloads);
    renderTokens(data.tokens);
  }

  function failed(reason) {
    $("live").classList.add("down");
    $("live").textContent = "offline";
    const words = reason === 401
      ? "The admin key is needed: load the page again to enter it (any user name, the key as password)."
      : `Cannot read ${SOURCE}: ${reason}. Retrying.`;
    $("alerts").replaceChildren(el("div", { class: "alert error", role: "alert", id: "poll-error", text: words }));
  }

  async function poll() {
    try {
      const reply = await fetch(SOURCE, { cache: "no-store", headers: { Accept: "application/json" } });
      if (!reply.ok) {
        failed(reply.status === 401 ? 401 : `HTTP ${reply.status}`);
      } else {
        show(await reply.json());
        $("live").classList.remove("down");
        $("live").textContent = "live";
      }
    } catch (err) {
      failed(err.message || String(err));
    }
    window.setTimeout(poll, POLL_MS);
  }

  if (SOURCE) {
    window.addEventListener("resize", () => latest && drawAll());
    poll();
  }
})();
