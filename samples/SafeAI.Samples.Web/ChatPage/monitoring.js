// SafeAI monitoring dashboard: polls /api/monitoring/series and draws plain SVG line charts (no library, nothing loaded
// from elsewhere). One chart per metric, one line per arm, dashed red lines for the rules' thresholds.
"use strict";

const colours = { all: "#1d2433", ai: "#2f6fde", baseline: "#e08a1e", other: "#7a4fb5", none: "#8a93a5" };
const titles = {
  "calls": "Calls per minute",
  "block.rate": "Block rate",
  "fallback.rate": "Fallback rate",
  "latency.p95": "Latency p95 (ms)",
  "feedback.down.rate": "Thumbs-down rate",
};
const svgNs = "http://www.w3.org/2000/svg";

function el(name, attributes, parent) {
  const node = document.createElementNS(svgNs, name);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function format(metric, value) {
  if (value === null || value === undefined) return "–";
  if (metric.endsWith(".rate")) return (value * 100).toFixed(1) + " %";
  if (metric === "latency.p95") return Math.round(value) + " ms";
  return String(Math.round(value));
}

function chart(metric, seriesByArm, thresholds, width) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.dataset.metric = metric;
  const caption = document.createElement("figcaption");
  const title = document.createElement("span");
  title.textContent = titles[metric] || metric;
  const latest = document.createElement("span");
  latest.className = "latest";
  const all = seriesByArm.all || [];
  const last = [...all].reverse().find(v => v !== null);
  latest.textContent = "latest " + format(metric, last);
  caption.append(title, latest);
  figure.appendChild(caption);

  const height = 160, left = 48, bottom = 18, top = 8;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": (titles[metric] || metric) + " chart" });
  let max = 0;
  for (const values of Object.values(seriesByArm)) for (const v of values) if (v !== null && v > max) max = v;
  for (const t of thresholds) if (t.above > max) max = t.above;
  if (max === 0) max = metric.endsWith(".rate") ? 0.1 : 1;
  max *= 1.15;
  const n = all.length || 1;
  const x = i => left + (i / Math.max(1, n - 1)) * (width - left - 4);
  const y = v => top + (1 - v / max) * (height - top - bottom);
  el("line", { class: "axis", x1: left, y1: height - bottom, x2: width - 4, y2: height - bottom }, svg);
  el("line", { class: "axis", x1: left, y1: top, x2: left, y2: height - bottom }, svg);
  for (const v of [0, max / 2, max]) {
    const label = el("text", { class: "grid", x: left - 4, y: y(v) + 3, "text-anchor": "end" }, svg);
    label.textContent = format(metric, v);
  }
  const minutes = el("text", { class: "grid", x: width - 4, y: height - 4, "text-anchor": "end" }, svg);
  minutes.textContent = "now";
  const ago = el("text", { class: "grid", x: left, y: height - 4 }, svg);
  ago.textContent = `−${n} min`;
  for (const t of thresholds) {
    el("line", { class: "threshold", x1: left, x2: width - 4, y1: y(t.above), y2: y(t.above) }, svg);
    const label = el("text", { class: "threshold-label", x: width - 6, y: y(t.above) - 3, "text-anchor": "end" }, svg);
    label.textContent = t.rule + " > " + format(metric, t.above);
  }
  for (const [arm, values] of Object.entries(seriesByArm)) {
    let d = "";
    values.forEach((v, i) => { if (v !== null) d += (d === "" || values[i - 1] === null ? "M" : "L") + x(i).toFixed(1) + " " + y(v).toFixed(1) + " "; });
    if (d !== "") el("path", { class: "line", d, stroke: colours[arm] || colours.other, "data-arm": arm }, svg);
    // A minute with data between two without shows as a dot (a line needs two points).
    values.forEach((v, i) => {
      if (v !== null && (i === 0 || values[i - 1] === null) && (i === values.length - 1 || values[i + 1] === null)) {
        el("circle", { class: "point", cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 3, fill: colours[arm] || colours.other, "data-arm": arm }, svg);
      }
    });
  }
  figure.appendChild(svg);
  const legend = document.createElement("div");
  legend.className = "legend";
  for (const arm of Object.keys(seriesByArm)) {
    const item = document.createElement("span");
    item.style.setProperty("--c", colours[arm] || colours.other);
    item.textContent = arm;
    legend.appendChild(item);
  }
  figure.appendChild(legend);
  return figure;
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/api/monitoring/series?minutes=60", { headers: { accept: "application/json" } });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const data = await response.json();
    const charts = document.getElementById("charts");
    // Two charts a row on a wide screen, one on a narrow one; the drawing width follows the column.
    const columns = charts.clientWidth >= 900 ? 2 : 1;
    const width = Math.max(320, Math.floor((charts.clientWidth - 16 * (columns - 1)) / columns) - 28);
    charts.replaceChildren(...data.metrics.map(m => chart(m, data.series[m], data.thresholds.filter(t => t.metric === m), width)));
    const alerts = document.getElementById("alerts");
    if (data.alerts.length === 0) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = "No alert so far.";
      alerts.replaceChildren(li);
    } else {
      alerts.replaceChildren(...data.alerts.map(a => {
        const li = document.createElement("li");
        li.className = a.event;
        li.dataset.rule = a.rule;
        li.textContent = `${new Date(a.time).toLocaleTimeString()} — ${a.rule} ${a.event}: ${a.detail}`;
        return li;
      }));
    }
    document.getElementById("rules").textContent = data.rules.map(r => `${r.name} (${r.metric}, ${r.kind})`).join(", ");
    status.className = data.killSwitch.on ? "contained" : "";
    status.textContent = data.killSwitch.on
      ? "Kill switch ON: calls go to the fallback. " + (data.killSwitch.reason || "")
      : (data.firing.length > 0 ? "Firing: " + data.firing.join(", ") : "All clear") + " · updated " + new Date().toLocaleTimeString();
  } catch (error) {
    status.textContent = "Could not load the metrics: " + error.message;
  }
}

refresh();
setInterval(refresh, 5000);
