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
  for (const a of node.attempts) {
    const row = document.createElement("tr");
    row.append(text("td", String(a.attempt)), text("td", a.item === null ? "" : String(a.item)),
      text("td", a.status), text("td", (a.duration_us / 1000).toFixed(1) + " ms"),
      text("td", (a.finished_at_ms - a.started_at_ms) + " ms"), text("td", a.error || "", "attempt-error"));
    table.append(row);
  }
  out.append(text("h3", node.attempts.length ? "Attempts" : "No attempts recorded"));
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

if (body.dataset.page === "run") {
  document.getElementById("dag").addEventListener("click", (event) => {
    const box = event.target.closest(".node");
    if (box) showNode(box.dataset.node);
  });
  document.getElementById("dag").addEventListener("keydown", (event) => {
    const box = event.target.closest(".node");
    if (box && event.key === "Enter") showNode(box.dataset.node);
  });
  document.querySelectorAll("button[data-action]").forEach((button) =>
    button.addEventListener("click", () => act("/" + button.dataset.action)));
  const form = document.getElementById("signal");
  if (form) {
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
