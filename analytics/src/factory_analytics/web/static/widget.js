// The widget: reads /api/v1 (same origin, relative URLs so it also works behind a path
// prefix) and draws it. Its numbers are the API's numbers; nothing is computed differently.
"use strict";
(function () {
  const C = window.FactoryCharts;
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = 60000;

  function windowQuery() {
    const params = new URLSearchParams(location.search);
    if (params.get("hours")) return `hours=${encodeURIComponent(params.get("hours"))}`;
    return `days=${encodeURIComponent(params.get("days") || "7")}`;
  }

  async function get(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
      throw new Error(`${path}: ${message}`);
    }
    return body;
  }

  const fmtInt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
  const fmtPct = (n) => (n === null || n === undefined ? "–" : `${Number(n).toFixed(n >= 99.95 || n === 0 ? 0 : 1)} %`);
  function fmtMs(ms) {
    if (ms === null || ms === undefined) return "–";
    if (ms < 1000) return `${Math.round(ms)} ms`;
    return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  }
  function label(iso, resolution) {
    const d = new Date(iso);
    if (resolution === "hour") return `${String(d.getUTCHours()).padStart(2, "0")}:00`;
    return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
  }
  function setKpi(id, value, text, note) {
    const node = $(id);
    node.dataset.value = value === null || value === undefined ? "" : String(value);
    node.textContent = text;
    if (note !== undefined) $(`${id}-note`).textContent = note;
  }

  function renderUsage(usage) {
    const res = usage.window.resolution;
    $("usage-unit").textContent = res;
    const t = usage.totals;
    setKpi("kpi-requests", t.requests, fmtInt(t.requests), `${fmtInt(t.anonymous_requests)} anonymous`);
    setKpi("kpi-users", t.active_users, fmtInt(t.active_users), `${fmtInt(t.active_devices)} devices`);
    const errRate = t.requests ? (100 * t.server_errors) / t.requests : null;
    setKpi("kpi-errors", t.server_errors, fmtInt(t.server_errors), errRate === null ? "no requests" : `${errRate.toFixed(2)} % of requests`);
    C.barLine($("usage-chart"), usage.series.map((p) => ({ label: label(p.start, res), bar: p.requests, line: p.active_users })), { barName: "requests", lineName: "active users" });
  }

  function renderPeople(usage) {
    const list = $("people");
    list.textContent = "";
    const people = usage.per_user.slice(0, 6);
    $("people-empty").hidden = people.length > 0;
    const max = Math.max(1, ...people.map((p) => p.requests));
    for (const p of people) {
      const li = document.createElement("li");
      li.dataset.user = p.user;
      li.dataset.requests = String(p.requests);
      const who = document.createElement("div");
      const name = document.createElement("div");
      name.className = "node-name";
      name.textContent = p.user;
      const meta = document.createElement("div");
      meta.className = "node-meta";
      meta.textContent = p.devices.length ? p.devices.join(" · ") : "no tailnet device seen";
      who.append(name, meta);
      const count = document.createElement("span");
      count.className = "uptime";
      count.textContent = fmtInt(p.requests);
      const bar = document.createElement("div");
      bar.className = "share";
      bar.append(C.latencyBar(p.requests, p.requests, max));
      li.append(who, count, bar);
      list.append(li);
    }
    if (usage.totals.anonymous_requests) {
      const li = document.createElement("li");
      li.className = "anon";
      const label = document.createElement("div");
      label.className = "node-meta";
      label.textContent = "anonymous (tagged servers, outside the tailnet)";
      const count = document.createElement("span");
      count.className = "uptime muted";
      count.textContent = fmtInt(usage.totals.anonymous_requests);
      li.append(label, count);
      list.append(li);
    }
  }

  function renderEndpoints(data) {
    const rows = data.endpoints.slice(0, 8);
    const tbody = $("endpoints").querySelector("tbody");
    tbody.textContent = "";
    $("endpoints-empty").hidden = rows.length > 0;
    const max = Math.max(1, ...rows.map((r) => r.latency_ms.p95 || 0));
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.dataset.route = r.route;
      tr.dataset.method = r.method;
      tr.dataset.requests = String(r.requests);
      const route = document.createElement("td");
      route.className = "route";
      const method = document.createElement("span");
      method.className = "method";
      method.textContent = r.method;
      route.append(method, document.createTextNode(r.route));
      const count = document.createElement("td");
      count.className = "num requests";
      count.textContent = fmtInt(r.requests);
      const errors = document.createElement("td");
      errors.className = "num" + (r.server_errors ? " err" : "");
      errors.textContent = r.server_errors ? fmtPct(r.error_rate_pct) : "0";
      const lat = document.createElement("td");
      const box = document.createElement("div");
      box.className = "lat";
      const text = document.createElement("span");
      text.className = "lat-text";
      text.textContent = r.timed_requests ? `${fmtMs(r.latency_ms.p50)} · ${fmtMs(r.latency_ms.p95)}` : "no timing";
      box.append(C.latencyBar(r.latency_ms.p50, r.latency_ms.p95, max), text);
      lat.append(box);
      tr.append(route, count, errors, lat);
      tbody.append(tr);
    }
  }

  function renderDevices(data) {
    const list = $("nodes");
    list.textContent = "";
    const present = data.devices.filter((d) => d.present);
    const online = present.filter((d) => d.online).length;
    const uptimes = data.devices.map((d) => d.uptime_pct).filter((u) => u !== null);
    const avg = uptimes.length ? uptimes.reduce((a, b) => a + b, 0) / uptimes.length : null;
    setKpi("kpi-online", online, `${online} / ${present.length}`, avg === null ? "no history yet" : `avg uptime ${fmtPct(avg)}`);
    $("nodes-empty").hidden = data.devices.length > 0;
    const warning = $("nodes-warning");
    warning.hidden = !data.poll.last_error;
    warning.textContent = data.poll.last_error ? `Tailnet poll failing since ${data.poll.last_error_at}: ${data.poll.last_error}` : "";
    const res = data.window.resolution;
    for (const d of data.devices) {
      const li = document.createElement("li");
      li.dataset.hostname = d.hostname;
      li.dataset.uptime = d.uptime_pct === null ? "" : String(d.uptime_pct);
      const dot = document.createElement("span");
      dot.className = `dot ${d.online ? "on" : "off"}`;
      dot.title = d.online ? "online" : d.last_seen ? `offline, last seen ${d.last_seen}` : "offline";
      const who = document.createElement("div");
      const name = document.createElement("div");
      name.className = "node-name";
      name.textContent = d.hostname;
      const meta = document.createElement("div");
      meta.className = "node-meta";
      const tags = d.tags.length ? d.tags.join(" ") : d.user || "";
      meta.textContent = [tags, d.os].filter(Boolean).join(" · ") + (d.present ? "" : " · removed");
      who.append(name, meta);
      const up = document.createElement("span");
      up.className = "uptime";
      up.textContent = fmtPct(d.uptime_pct);
      const strip = document.createElement("div");
      strip.className = "strip";
      strip.append(C.strip(d.series.map((s) => ({ label: label(s.start, res), value: s.uptime_pct }))));
      li.append(dot, who, up, strip);
      list.append(li);
    }
  }

  function renderSystem(data) {
    const now = data.now;
    if (now) {
      setKpi("kpi-cpu", now.cpu_pct, fmtPct(now.cpu_pct), `load ${now.load_1.toFixed(2)} · mem ${fmtPct(now.memory_pct)}`);
    } else {
      setKpi("kpi-cpu", null, "–", "no samples yet");
    }
    const has = data.series.some((p) => p.samples > 0);
    $("load-empty").hidden = has;
    $("load-chart").hidden = !has;
    if (!has) return;
    C.lines($("load-chart"), data.series.map((p) => label(p.start, "hour")), [
      { name: "CPU %", cls: "cpu", area: "cpu-area", axis: "left", values: data.series.map((p) => p.cpu_pct_avg) },
      { name: "memory %", cls: "mem", axis: "left", values: data.series.map((p) => p.memory_pct_avg) },
      { name: "load", cls: "load", axis: "right", values: data.series.map((p) => p.load_1_avg) },
    ]);
  }

  function renderProbes(data) {
    const list = $("probes");
    list.textContent = "";
    $("probes-empty").hidden = data.probes.length > 0;
    for (const p of data.probes) {
      const li = document.createElement("li");
      li.dataset.probe = p.name;
      const dot = document.createElement("span");
      dot.className = `dot ${p.last ? (p.last.ok ? "on" : "off") : ""}`;
      const who = document.createElement("div");
      const name = document.createElement("div");
      name.className = "node-name";
      name.textContent = p.name;
      const meta = document.createElement("div");
      meta.className = "node-meta";
      meta.textContent = p.checks ? `p95 ${fmtMs(p.latency_ms.p95)} · ${fmtPct(p.success_rate_pct)} ok of ${fmtInt(p.checks)}` : "no checks yet";
      if (p.last && p.last.error) meta.textContent += ` · ${p.last.error}`;
      who.append(name, meta);
      const last = document.createElement("span");
      last.className = "uptime";
      last.textContent = p.last ? fmtMs(p.last.duration_ms) : "–";
      li.append(dot, who, last);
      list.append(li);
    }
  }

  function showError(message) {
    let banner = document.querySelector(".error-banner");
    if (!banner) {
      banner = document.createElement("div");
      banner.className = "error-banner";
      document.body.insertBefore(banner, document.querySelector(".kpis"));
    }
    banner.textContent = message;
  }

  async function refresh() {
    const q = windowQuery();
    document.querySelectorAll(".windows a").forEach((a) => a.classList.toggle("active", a.dataset.window === q));
    const results = await Promise.allSettled([
      get(`api/v1/usage?${q}`).then((u) => { renderUsage(u); renderPeople(u); }),
      get(`api/v1/endpoints?${q}&top=8`).then(renderEndpoints),
      get(`api/v1/devices?${q}`).then(renderDevices),
      get("api/v1/system?hours=24").then(renderSystem),
      get("api/v1/probes?hours=24").then(renderProbes),
    ]);
    const failed = results.filter((r) => r.status === "rejected").map((r) => String(r.reason.message || r.reason));
    const banner = document.querySelector(".error-banner");
    if (failed.length) showError(`Some figures could not be loaded: ${failed.join("; ")}`);
    else if (banner) banner.remove();
    const span = q.startsWith("hours") ? `${q.split("=")[1]} h` : `${q.split("=")[1]} days`;
    $("subtitle").textContent = `last ${span} · UTC · updated ${new Date().toISOString().slice(11, 19)}`;
    document.body.dataset.loaded = "true";
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
  // charts are drawn at the container's width: redraw after the iframe is resized
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(refresh, 250);
  });
})();
