// The run viewer's script: follows a run live, fills the node panel from the JSON API (always as
// text, never as HTML), and sends actions. Everything else is rendered by the server.
"use strict";

const body = document.body;
const runId = body.dataset.run;
const api = (path) => "/api/runs/" + encodeURIComponent(runId) + path;
const FINAL = ["completed"];

function text(tag, content, className) {
  const el = document.createElement(tag);
  el.textContent = content;
  if (className) el.className = className;
  return el;
}

function preview(value) {
  const json = JSON.stringify(value, null, 2);
  const max = 4000;
  return json.length > max ? json.slice(0, max) + "\n… (" + json.length + " characters: see the full JSON)" : json;
}

async function showNode(id) {
  document.querySelectorAll("#dag .node.selected").forEach((n) => n.classList.remove("selected"));
  const box = [...document.querySelectorAll("#dag .node")].find((n) => n.dataset.node === id);
  if (box) box.classList.add("selected");
  const panel = document.getElementById("panel");
  const out = document.getElementById("panel-body");
  const response = await fetch(api("/nodes/" + encodeURIComponent(id)));
  const data = await response.json();
  panel.hidden = false;
  out.replaceChildren();
  if (!response.ok) {
    document.getElementById("panel-title").textContent = id;
    out.append(text("p", data.error, "error"));
    return;
  }
  const node = data.node;
  document.getElementById("panel-title").textContent = node.id + " (" + node.kind + "): " + node.status.replace("_", " ");
  const table = document.createElement("table");
  table.className = "attempts";
  const head = document.createElement("tr");
  ["attempt", "item", "status", "ran", "recorded after", "error"].forEach((h) => head.append(text("th", h)));
  table.append(head);
  // A mapped node's attempts go by item, then attempt; a filter shows one status.
  const attempts = node.mapped
    ? [...node.attempts].sort((a, b) => (a.item ?? -1) - (b.item ?? -1) || a.attempt - b.attempt)
    : node.attempts;
  for (const a of attempts) {
    const row = document.createElement("tr");
    row.dataset.status = a.status;
    row.append(text("td", String(a.attempt)), text("td", a.item === null ? "" : String(a.item)),
      text("td", a.status), text("td", (a.duration_us / 1000).toFixed(1) + " ms"),
      text("td", (a.finished_at_ms - a.started_at_ms) + " ms"), text("td", a.error || "", "attempt-error"));
    table.append(row);
  }
  out.append(text("h3", node.attempts.length ? "Attempts" : "No attempts recorded"));
  if (node.mapped && node.attempts.length) {
    const counts = {};
    for (const a of node.attempts) counts[a.status] = (counts[a.status] || 0) + 1;
    const filter = document.createElement("div");
    filter.className = "item-filter";
    for (const status of ["all", ...Object.keys(counts).sort()]) {
      const n = status === "all" ? node.attempts.length : counts[status];
      const button = text("button", status + " (" + n + ")");
      button.dataset.filter = status;
      button.addEventListener("click", () => {
        filter.querySelectorAll("button").forEach((b) => b.classList.toggle("on", b === button));
        table.querySelectorAll("tr[data-status]").forEach((row) => {
          row.hidden = status !== "all" && row.dataset.status !== status;
        });
      });
      if (status === "all") button.classList.add("on");
      filter.append(button);
    }
    out.append(filter);
  }
  if (node.attempts.length) out.append(table);
  // An output restored from the cache names the run that computed it, with a link to that run.
  const sources = [...new Set(node.attempts.map((a) => a.cached_from).filter((r) => r))];
  for (const source of sources) {
    const from = text("p", "Restored from the cache: computed by run ", "cached-from");
    const link = text("a", source);
    link.href = "/runs/" + encodeURIComponent(source);
    from.append(link);
    out.append(from);
  }
  // What each attempt logged: its events, with the time, level and target of each.
  const logged = node.attempts.filter((a) => (a.logs && a.logs.length) || a.logs_dropped);
  if (logged.length) {
    out.append(text("h3", "Logs"));
    for (const a of logged) {
      const title = "attempt " + a.attempt + (a.item === null ? "" : ", item " + a.item) +
        (a.logs_dropped ? " (" + a.logs_dropped + " more not kept: over the limits)" : "");
      out.append(text("p", title, "log-title"));
      const lines = document.createElement("pre");
      lines.className = "logs";
      for (const line of a.logs || []) {
        const row = text("div", "", "log-line log-" + line.level.toLowerCase());
        row.append(text("span", new Date(line.at_ms).toISOString().slice(11, 23) + " ", "log-at"),
          text("span", line.level.padEnd(5) + " ", "log-level"),
          text("span", line.target + ": ", "log-target"), text("span", line.message, "log-message"));
        lines.append(row);
      }
      out.append(lines);
    }
  }
  out.append(text("h3", "Inputs"), text("pre", preview(data.inputs)));
  out.append(text("h3", "Output"), text("pre", data.output === null ? "(none yet)" : preview(data.output)));
  // Values too big to show are cut by the server; each can be downloaded whole.
  for (const [name, cut] of Object.entries(data.clipped || {})) {
    const note = text("p", (name === "output" ? "The output" : "Input " + name) + " is " + cut.bytes + " bytes; only its start is shown. ");
    if (cut.download) {
      const link = text("a", "Download it whole");
      link.href = cut.download;
      link.target = "_blank";
      note.append(link);
    }
    out.append(note);
  }
  if (data.output !== null) {
    const full = text("a", "full output (JSON)");
    full.href = api("/nodes/" + encodeURIComponent(id) + "/output");
    full.target = "_blank";
    out.append(full);
  }
  history.replaceState(null, "", "#node=" + encodeURIComponent(id));
}

async function act(path, init) {
  const result = document.getElementById("action-result");
  result.textContent = "…";
  const response = await fetch(api(path), Object.assign({ method: "POST", credentials: "same-origin" }, init));
  const data = await response.json().catch(() => ({}));
  result.textContent = response.ok ? data.message : "refused: " + (data.error || response.status);
  result.className = response.ok ? "" : "error";
  if (response.ok) poll();
}

// Times as "5 min ago" stay current; a running run's duration counts up.
function ago(ms) {
  const s = Math.floor((Date.now() - ms) / 1000);
  if (s < 0) return "in the future";
  if (s < 10) return "just now";
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  if (s < 172800) return "1 day ago";
  return Math.floor(s / 86400) + " days ago";
}

function took(ms) {
  if (ms < 1000) return ms + "ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + "s";
  return Math.floor(ms / 60000) + "m" + String(Math.floor(ms / 1000) % 60).padStart(2, "0") + "s";
}

function tick() {
  document.querySelectorAll("time.ago").forEach((t) => { t.textContent = ago(Number(t.dataset.ms)); });
  document.querySelectorAll(".took[data-since]").forEach((t) => {
    t.textContent = took(Math.max(0, Date.now() - Number(t.dataset.since)));
  });
}
setInterval(tick, 1000);

let lastStatus = body.dataset.status;
let timer = null;

async function poll() {
  clearTimeout(timer);
  let data;
  try {
    const response = await fetch(api("/status"));
    if (!response.ok) return;
    data = await response.json();
  } catch (e) {
    timer = setTimeout(poll, 1000);
    return;
  }
  for (const box of document.querySelectorAll("#dag .node")) {
    const status = data.nodes[box.dataset.node];
    if (status) box.setAttribute("class", box.getAttribute("class").replace(/\bs-[a-z_]+/, "s-" + status));
  }
  const badge = document.getElementById("run-status");
  badge.textContent = data.status;
  badge.className = "badge s-" + data.status;
  if (data.note) document.getElementById("action-result").textContent = data.note;
  if (data.status !== lastStatus) {
    // The actions, timeline and counts depend on the run's status: draw them anew.
    lastStatus = data.status;
    location.reload();
    return;
  }
  if (!FINAL.includes(data.status)) timer = setTimeout(poll, 1000);
}

// The run list: new runs and changed statuses (from any process) redraw the page.
async function watchList() {
  try {
    const response = await fetch("/api/runs" + location.search);
    if (response.ok) {
      const data = await response.json();
      const shown = [...document.querySelectorAll("#runs tbody tr")]
        .map((row) => row.dataset.run + " " + row.dataset.status).join(",");
      const now = data.runs.map((run) => run.run_id + " " + run.status).join(",");
      if (shown !== now) {
        location.reload();
        return;
      }
    }
  } catch (e) {
    // The server is away for a moment: try again.
  }
  setTimeout(watchList, 2000);
}

if (body.dataset.page === "runs") setTimeout(watchList, 2000);

// The graph fits the page's width (CSS: `max-width: 100%`, down to 40% by its `min-width`), in
// the page's one layout; zoom (the buttons, or ctrl and the wheel) sets its size instead, and
// pan (drag the background) moves about it.
const graph = { scale: 1, width: 0, height: 0 };

function zoomTo(scale) {
  const svg = document.getElementById("dag");
  graph.scale = Math.min(2, Math.max(0.1, scale));
  svg.style.maxWidth = "none";
  svg.style.minWidth = "0";
  svg.style.width = graph.width * graph.scale + "px";
  svg.style.height = graph.height * graph.scale + "px";
  showZoom();
}

function showZoom() {
  const svg = document.getElementById("dag");
  graph.scale = svg.getBoundingClientRect().width / graph.width;
  document.getElementById("zoom-level").textContent = Math.round(graph.scale * 100) + "%";
}

function fitGraph() {
  const svg = document.getElementById("dag");
  for (const key of ["maxWidth", "minWidth", "width", "height"]) svg.style[key] = "";
  showZoom();
}

function setUpGraph() {
  const svg = document.getElementById("dag");
  graph.width = Number(svg.getAttribute("width"));
  graph.height = Number(svg.getAttribute("height"));
  // Read once laid out: reading sizes now would lay the page out twice.
  requestAnimationFrame(showZoom);
  document.querySelectorAll("button[data-zoom]").forEach((button) => button.addEventListener("click", () => {
    const how = button.dataset.zoom;
    if (how === "fit") fitGraph();
    else zoomTo(graph.scale * (how === "in" ? 1.25 : 0.8));
  }));
  const box = svg.parentElement;
  box.addEventListener("wheel", (event) => {
    if (!event.ctrlKey) return;
    event.preventDefault();
    zoomTo(graph.scale * (event.deltaY < 0 ? 1.1 : 0.9));
  }, { passive: false });
  let drag = null;
  box.addEventListener("pointerdown", (event) => {
    if (event.target.closest(".node")) return;
    drag = { x: event.clientX, y: event.clientY, left: box.scrollLeft, top: box.scrollTop };
    box.classList.add("panning");
  });
  window.addEventListener("pointermove", (event) => {
    if (!drag) return;
    box.scrollLeft = drag.left - (event.clientX - drag.x);
    box.scrollTop = drag.top - (event.clientY - drag.y);
  });
  window.addEventListener("pointerup", () => {
    drag = null;
    box.classList.remove("panning");
  });
}

if (body.dataset.page === "run") {
  setUpGraph();
  document.getElementById("dag").addEventListener("click", (event) => {
    const box = event.target.closest(".node");
    if (box) showNode(box.dataset.node);
  });
  document.getElementById("dag").addEventListener("keydown", (event) => {
    const box = event.target.closest(".node");
    if (box && event.key === "Enter") showNode(box.dataset.node);
  });
  document.querySelectorAll("button[data-open]").forEach((button) =>
    button.addEventListener("click", () => showNode(button.dataset.open)));
  document.querySelectorAll("button[data-action]").forEach((button) =>
    button.addEventListener("click", () => act("/" + button.dataset.action)));
  const form = document.getElementById("signal");
  if (form) {
    form.wait.addEventListener("change", () => {
      const template = form.wait.selectedOptions[0].dataset.template;
      form.payload.value = template;
      form.payload.rows = Math.min(12, Math.max(1, template.split("\n").length));
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      let payload;
      try {
        payload = JSON.parse(form.payload.value);
      } catch (e) {
        document.getElementById("action-result").textContent = "the payload is not JSON: " + e.message;
        return;
      }
      act("/signal", { headers: { "content-type": "application/json" },
        body: JSON.stringify({ wait: form.wait.value, payload }) });
    });
  }
  const selected = new URLSearchParams(location.hash.slice(1)).get("node");
  if (selected) showNode(selected);
  poll();
}
