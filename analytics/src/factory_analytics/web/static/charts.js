// Hand-written SVG charts for the widget: no library, no CDN (the tailnet may be offline).
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";

  function el(tag, attrs, parent) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function title(node, text) {
    el("title", {}, node).textContent = text;
    return node;
  }

  function niceMax(value) {
    if (!value || value <= 0) return 1;
    const exp = Math.pow(10, Math.floor(Math.log10(value)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= value) return m * exp;
    return 10 * exp;
  }

  function compact(n) {
    if (n === null || n === undefined) return "–";
    if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
    if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(0) + "k";
    if (Math.abs(n) >= 1e3) return (n / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
    return String(Math.round(n * 100) / 100);
  }

  function frame(container, width, height) {
    container.textContent = "";
    return el("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "xMidYMid meet" }, container);
  }

  // Bars (e.g. requests per day) with an optional line (e.g. active users) on its own scale.
  function barLine(container, points, opts) {
    // drawn at the container's real width so text keeps its size in a narrow iframe
    const W = Math.max(320, Math.round(container.clientWidth || 900)), H = 200, L = 44, R = 40, T = 14, B = 26;
    const svg = frame(container, W, H);
    const maxBar = niceMax(Math.max(0, ...points.map((p) => p.bar)));
    // the line counts people: whole-number ticks (4 intervals) and headroom above the top
    const peak = Math.max(1, ...points.map((p) => p.line));
    const maxLine = peak <= 12 ? 4 * Math.ceil((peak * 1.25) / 4) : niceMax(peak * 1.2);
    const iw = W - L - R, ih = H - T - B;
    const step = iw / Math.max(1, points.length);
    for (let i = 0; i <= 4; i++) {
      const y = T + ih - (ih * i) / 4;
      el("line", { class: "gridline", x1: L, x2: W - R, y1: y, y2: y }, svg);
      el("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, svg).textContent = compact((maxBar * i) / 4);
      el("text", { x: W - R + 6, y: y + 4 }, svg).textContent = compact((maxLine * i) / 4);
    }
    const labelEvery = Math.ceil(points.length / Math.max(3, Math.floor(W / 75)));
    const linePts = [];
    points.forEach((p, i) => {
      const bw = Math.max(2, step * 0.62);
      const x = L + i * step + (step - bw) / 2;
      const h = (ih * p.bar) / maxBar;
      const bar = el("rect", { class: "bar", x, y: T + ih - h, width: bw, height: Math.max(h, 0), rx: 2 }, svg);
      bar.dataset.value = String(p.bar);
      title(bar, `${p.label}: ${p.bar} ${opts.barName}, ${p.line} ${opts.lineName}`);
      if (p.bar > 0 && bw >= 18) {
        // at the foot of the bar when it is tall enough: the users line, drawn at a quarter
        // of the height or more, never covers the number there
        const inside = h >= 20;
        el("text", { class: inside ? "value-label inside" : "value-label", x: x + bw / 2, y: inside ? T + ih - 6 : T + ih - h - 3, "text-anchor": "middle" }, svg).textContent = compact(p.bar);
      }
      if (i % labelEvery === 0) {
        el("text", { x: L + i * step + step / 2, y: H - 8, "text-anchor": "middle" }, svg).textContent = p.label;
      }
      linePts.push([L + i * step + step / 2, T + ih - (ih * p.line) / maxLine]);
    });
    if (linePts.length) {
      el("polyline", { class: "users", points: linePts.map((p) => p.join(",")).join(" ") }, svg);
      linePts.forEach(([x, y], i) => title(el("circle", { class: "users-dot", cx: x, cy: y, r: 3 }, svg), `${points[i].label}: ${points[i].line} ${opts.lineName}`));
    }
  }

  // Several series over the same x axis; each series says which axis ("left" 0-100 or "right").
  function lines(container, labels, series) {
    const W = Math.max(300, Math.round(container.clientWidth || 520)), H = 200, L = 36, R = 34, T = 10, B = 24;
    const svg = frame(container, W, H);
    const iw = W - L - R, ih = H - T - B;
    const rightMax = niceMax(Math.max(0.5, ...series.filter((s) => s.axis === "right").flatMap((s) => s.values.filter((v) => v !== null))));
    const n = Math.max(2, labels.length);
    const xAt = (i) => L + (iw * i) / (n - 1);
    for (let i = 0; i <= 4; i++) {
      const y = T + ih - (ih * i) / 4;
      el("line", { class: "gridline", x1: L, x2: W - R, y1: y, y2: y }, svg);
      el("text", { x: L - 5, y: y + 4, "text-anchor": "end" }, svg).textContent = `${25 * i}%`;
      el("text", { x: W - R + 5, y: y + 4 }, svg).textContent = compact((rightMax * i) / 4);
    }
    const labelEvery = Math.ceil(labels.length / 6);
    labels.forEach((label, i) => {
      if (i % labelEvery === 0) el("text", { x: xAt(i), y: H - 7, "text-anchor": "middle" }, svg).textContent = label;
    });
    for (const s of series) {
      const max = s.axis === "right" ? rightMax : 100;
      const segments = [];
      let current = [];
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) {
          if (current.length) segments.push(current);
          current = [];
        } else {
          current.push([xAt(i), T + ih - (ih * Math.min(v, max)) / max, v, i]);
        }
      });
      if (current.length) segments.push(current);
      for (const seg of segments) {
        if (s.area && seg.length > 1) {
          const d = `M${seg[0][0]},${T + ih} ` + seg.map((p) => `L${p[0]},${p[1]}`).join(" ") + ` L${seg[seg.length - 1][0]},${T + ih} Z`;
          el("path", { class: s.area, d }, svg);
        }
        if (seg.length === 1) {
          el("circle", { class: s.cls, cx: seg[0][0], cy: seg[0][1], r: 2.5 }, svg);
        } else {
          el("polyline", { class: s.cls, points: seg.map((p) => `${p[0]},${p[1]}`).join(" ") }, svg);
        }
        seg.forEach((p) => title(el("circle", { cx: p[0], cy: p[1], r: 5, fill: "transparent" }, svg), `${labels[p[3]]}: ${s.name} ${compact(p[2])}`));
      }
    }
  }

  // A thin horizontal bar pair: p50 solid inside p95 light, scaled to `max`.
  function latencyBar(p50, p95, max) {
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 100 10");
    svg.setAttribute("preserveAspectRatio", "none");
    const w95 = p95 ? Math.max(1, (100 * p95) / max) : 0;
    const w50 = p50 ? Math.max(1, (100 * p50) / max) : 0;
    el("rect", { class: "p95", x: 0, y: 1, width: w95, height: 8, rx: 2 }, svg);
    el("rect", { class: "p50", x: 0, y: 1, width: w50, height: 8, rx: 2 }, svg);
    return svg;
  }

  // One cell per day/hour, coloured by uptime.
  function strip(values) {
    const svg = document.createElementNS(NS, "svg");
    const n = Math.max(1, values.length);
    svg.setAttribute("viewBox", `0 0 ${n * 10} 8`);
    svg.setAttribute("preserveAspectRatio", "none");
    values.forEach((v, i) => {
      const cls = v.value === null ? "cell" : v.value >= 99 ? "cell good" : v.value >= 90 ? "cell mid" : "cell bad";
      title(el("rect", { class: cls, x: i * 10 + 0.5, y: 0, width: 9, height: 8 }, svg), `${v.label}: ${v.value === null ? "no data" : v.value + " %"}`);
    });
    return svg;
  }

  window.FactoryCharts = { barLine, lines, latencyBar, strip, compact };
})();
