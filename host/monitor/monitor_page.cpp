#include "monitor/monitor_page.hpp"

namespace vramguard {

std::string_view monitor_page_html() {
  static constexpr std::string_view kPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vramguard monitor</title>
<style>
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em;
         background: #fafafa; color: #222; }
  h1 { font-size: 1.4em; margin: 0 0 .2em; }
  h2 { font-size: 1.1em; margin: 0 0 .3em; }
  .status { color: #666; margin-top: 0; }
  .gpu { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 1em; margin-bottom: 1em; }
  .gpu.alert { border-color: #c0392b; box-shadow: 0 0 0 2px #f5b7b1; }
  .figures { margin: .2em 0 .6em; }
  canvas { width: 100%; height: 140px; display: block; border-radius: 4px; }
  table { border-collapse: collapse; margin-top: .6em; }
  th, td { padding: 2px 12px 2px 0; text-align: left; }
  td.bytes { text-align: right; font-variant-numeric: tabular-nums; }
  #alerts li.above { color: #c0392b; }
  #alerts li.below { color: #1e8449; }
  #alerts li.none { color: #888; }
  #queue { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 1em; margin-bottom: 1em; }
</style>
</head>
<body data-updates="0">
<h1>vramguard monitor</h1>
<p class="status" id="status">connecting&hellip;</p>
<section id="queue" hidden data-waiting="0" data-running="">
<h2>Edits</h2>
<p id="queue-summary"></p>
<table><thead><tr><th>waiting</th><th>results</th><th>size</th><th>steps</th><th>waited</th></tr></thead>
<tbody></tbody></table>
</section>
<div id="gpus"></div>
<h2>Alerts</h2>
<ul id="alerts"><li class="none">none yet</li></ul>
<script>
"use strict";
const gb = bytes => (bytes / 1e9).toFixed(2) + " GB";
let interval = 1000;

function draw(canvas, gpu) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.width = Math.max(300, canvas.clientWidth) * ratio;
  const h = canvas.height = 140 * ratio;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#f4f6f8";
  ctx.fillRect(0, 0, w, h);
  const total = gpu.total_bytes || 1;
  const y = used => h - (used / total) * (h - 4) - 2;
  ctx.strokeStyle = "#c0392b";
  ctx.setLineDash([6 * ratio, 4 * ratio]);
  ctx.beginPath();
  ctx.moveTo(0, y(gpu.threshold_bytes));
  ctx.lineTo(w, y(gpu.threshold_bytes));
  ctx.stroke();
  ctx.setLineDash([]);
  const points = gpu.history;
  canvas.dataset.points = points.length;
  if (points.length === 0) return;
  const first = points[0][0], span = Math.max(points[points.length - 1][0] - first, 1e-6);
  ctx.strokeStyle = "#2e86c1";
  ctx.lineWidth = 2 * ratio;
  ctx.beginPath();
  points.forEach((p, i) => {
    const x = points.length === 1 ? w : (p[0] - first) / span * w;
    if (i === 0) ctx.moveTo(x, y(p[1])); else ctx.lineTo(x, y(p[1]));
  });
  ctx.stroke();
}

function card(index) {
  const box = document.getElementById("gpus");
  let section = box.querySelector(`section[data-gpu="${index}"]`);
  if (section) return section;
  section = document.createElement("section");
  section.className = "gpu";
  section.dataset.gpu = index;
  for (const [tag, cls] of [["h2", ""], ["p", "figures"], ["canvas", ""], ["table", ""]]) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    section.appendChild(node);
  }
  const head = section.querySelector("table").createTHead().insertRow();
  for (const name of ["pid", "process", "user", "memory"]) {
    const th = document.createElement("th");
    th.textContent = name;
    head.appendChild(th);
  }
  section.querySelector("table").createTBody();
  box.appendChild(section);
  return section;
}

// vramguard serve's edits: the one running and its step, those waiting in order, the answers given.
function renderQueue(q) {
  const section = document.getElementById("queue");
  section.hidden = false;
  section.dataset.waiting = q.waiting.length;
  section.dataset.running = q.running ? q.running.id : "";
  const r = q.running;
  const now = r ? `running #${r.id}: ` + (r.step === 0 ? `its prompt and pictures, before step 1 of ${r.steps}`
                                                          : `step ${r.step} of ${r.steps}`) +
                  (r.results > 1 ? ` of result ${r.result} of ${r.results}` : "") + ` (${r.seconds.toFixed(1)} s)`
                : q.ready ? (q.loaded ? "idle" : "idle, the model unloaded until the next edit") : "loading the model";
  const answered = Object.entries(q.answered).map(([status, n]) => `${n}\u00d7${status}`).join(", ");
  document.getElementById("queue-summary").textContent =
    `${now}; ${q.waiting.length} of ${q.max_queue} waiting; answered: ${answered || "none yet"}` +
    (q.step_seconds_mean > 0 ? `; ${q.step_seconds_mean.toFixed(3)} s a step on average` : "");
  const body = section.querySelector("tbody");
  body.textContent = "";
  for (const w of q.waiting) {
    const row = body.insertRow();
    [`#${w.id}`, w.results, w.size, w.steps, `${w.waited_seconds.toFixed(1)} s`].forEach(value => {
      row.insertCell().textContent = value;
    });
  }
}

function render(state) {
  interval = Math.max(200, state.interval_seconds * 1000);
  document.getElementById("status").textContent = state.source === "none"
    ? "no GPU readings here (neither NVML nor --simulate)"
    : `${state.source} GPUs, sampled every ${state.interval_seconds} s, ${state.samples} samples; ` +
      `alert above ${state.threshold}`;
  if (state.queue) renderQueue(state.queue);
  for (const gpu of state.gpus) {
    const section = card(gpu.index);
    section.classList.toggle("alert", gpu.alert_active);
    section.dataset.used = gpu.used_bytes;
    section.querySelector("h2").textContent =
      `cuda:${gpu.index} ${gpu.name}` + (gpu.alert_active ? " \u2014 above the threshold" : "");
    section.querySelector(".figures").textContent =
      `used ${gb(gpu.used_bytes)} of ${gb(gpu.total_bytes)}, free ${gb(gpu.free_bytes)}; ` +
      `alerts fired: ${gpu.alerts_fired}`;
    draw(section.querySelector("canvas"), gpu);
    const body = section.querySelector("tbody");
    body.textContent = "";
    for (const p of gpu.processes) {
      const row = body.insertRow();
      [p.pid || "-", p.name, p.user || "", gb(p.bytes)].forEach((value, i) => {
        const cell = row.insertCell();
        cell.textContent = value;
        if (i === 3) cell.className = "bytes";
      });
    }
  }
  const list = document.getElementById("alerts");
  list.textContent = "";
  if (state.alerts.length === 0) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = "none yet";
    list.appendChild(li);
  }
  for (const a of state.alerts.slice(-20).reverse()) {
    const li = document.createElement("li");
    li.className = a.state;
    li.dataset.gpu = a.gpu;
    li.dataset.state = a.state;
    li.textContent = `${new Date(a.time * 1000).toLocaleTimeString()} cuda:${a.gpu} ` +
      `${a.state === "above" ? "above" : "back below"} ${gb(a.threshold_bytes)}: ${gb(a.used_bytes)} used`;
    list.appendChild(li);
  }
  document.body.dataset.updates = Number(document.body.dataset.updates) + 1;
}

async function poll() {
  try {
    const response = await fetch("/api/state", {cache: "no-store"});
    if (response.ok) render(await response.json());
    else document.getElementById("status").textContent = `the monitor answered ${response.status}`;
  } catch (error) {
    document.getElementById("status").textContent = `the monitor is not answering (${error})`;
  }
  setTimeout(poll, interval);
}
poll();
</script>
</body>
</html>
)HTML";
  return kPage;
}

}  // namespace vramguard
