// The console talks to the daemon's Ollama-compatible API on the same
// origin: /api/tags (models), /api/ps (loaded models), /api/chat (streamed
// as one JSON object per line); in a session opened by 'ainative console'
// also to its user's bus panel under /console/bus/ (context, audit,
// consent). Every text from elsewhere is shown with textContent.
"use strict";
const $ = (id) => document.getElementById(id);
const history = [];
let controller = null;

function status(text) { $("status").textContent = text || ""; }

async function getJSON(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

async function loadModels() {
  try {
    const tags = await getJSON("/api/tags");
    const sel = $("model");
    const keep = sel.value;
    sel.replaceChildren();
    for (const m of tags.models || []) {
      const o = document.createElement("option");
      o.value = o.textContent = m.name;
      sel.append(o);
    }
    if (keep) sel.value = keep;
    if (!sel.options.length) status("no models: pull or import one with 'ainative pull'");
  } catch (e) { status(e.message); }
}

async function loadRunning() {
  try {
    const ps = await getJSON("/api/ps");
    const ul = $("loaded");
    ul.replaceChildren();
    for (const m of ps.models || []) {
      const li = document.createElement("li");
      li.textContent = m.name + " (" + (m.size / (1 << 20)).toFixed(0) + " MiB)";
      ul.append(li);
    }
    if (!ul.children.length) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = "none";
      ul.append(li);
    }
  } catch (e) { /* the next refresh retries */ }
}

function bubble(role, text) {
  const d = document.createElement("div");
  d.className = "msg " + role;
  d.textContent = text;
  $("messages").append(d);
  return d;
}

async function send(text) {
  const model = $("model").value;
  if (!model) { status("choose a model"); return; }
  history.push({ role: "user", content: text });
  bubble("user", text);
  const out = bubble("assistant streaming", "");
  out.dataset.chunks = "0";
  controller = new AbortController();
  $("send").disabled = true;
  $("stop").disabled = false;
  status("");
  let answer = "";
  try {
    const r = await fetch("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model, messages: history, stream: true }),
      signal: controller.signal,
    });
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || "HTTP " + r.status);
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line);
        if (msg.error) throw new Error(msg.error);
        const piece = (msg.message && msg.message.content) || "";
        if (piece) {
          answer += piece;
          out.textContent = answer;
          out.dataset.chunks = String(Number(out.dataset.chunks) + 1);
        }
        if (msg.done) out.dataset.done = msg.done_reason || "stop";
      }
    }
  } catch (e) {
    if (e.name === "AbortError") {
      out.dataset.done = "stopped";
      status("stopped");
    } else {
      out.classList.add("error");
      out.textContent = answer + (answer ? "\n" : "") + "error: " + e.message;
      out.dataset.done = "error";
    }
  } finally {
    out.classList.remove("streaming");
    history.push({ role: "assistant", content: answer });
    controller = null;
    $("send").disabled = false;
    $("stop").disabled = true;
    loadRunning();
  }
}

$("form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("input").value.trim();
  if (!text || controller) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("form").requestSubmit(); }
});
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });

function list(id, rows, render) {
  const ul = $(id);
  ul.replaceChildren();
  for (const row of rows) ul.append(render(row));
  if (!ul.children.length) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = "none";
    ul.append(li);
  }
}

function li(text) {
  const e = document.createElement("li");
  e.textContent = text;
  return e;
}

async function answer(id, approve) {
  const r = await fetch("bus/consent/" + encodeURIComponent(id), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ approve }),
  });
  status(r.ok ? (approve ? "approved" : "refused") : "answer: HTTP " + r.status);
  loadBus();
}

function consentItem(req) {
  const e = document.createElement("li");
  e.dataset.id = req.id;
  const who = document.createElement("div");
  who.textContent = req.tool + " (" + req.effect + ") asked by uid " + req.caller.uid +
    " pid " + req.caller.pid + " " + req.caller.exe;
  const what = document.createElement("pre");
  const args = req.arguments || {};
  what.textContent = typeof args.command === "string" ? args.command : JSON.stringify(args);
  e.append(who, what);
  if (req.risk) {
    const risk = document.createElement("div");
    risk.className = "risk-" + req.risk.level;
    risk.textContent = "risk: " + req.risk.level + ((req.risk.reasons || []).length ? " (" + req.risk.reasons.join("; ") + ")" : "");
    e.append(risk);
  }
  const allow = document.createElement("button");
  allow.className = "allow";
  allow.textContent = "Allow";
  allow.addEventListener("click", () => answer(req.id, true));
  const deny = document.createElement("button");
  deny.className = "deny";
  deny.textContent = "Deny";
  deny.addEventListener("click", () => answer(req.id, false));
  e.append(allow, " ", deny);
  return e;
}

async function showLogs(name) {
  try {
    const logs = await getJSON("system/logs?n=100&service=" + encodeURIComponent(name));
    $("logs").dataset.service = logs.service;
    $("logs").textContent = (logs.lines || []).join("\n") || "(no output)";
  } catch (e) { $("logs").textContent = e.message; }
}

async function loadSystem() {
  let st;
  try {
    const r = await fetch("system/status");
    if (!r.ok) { $("system").hidden = true; return; }
    st = await r.json();
  } catch (e) { $("system").hidden = true; return; }
  $("system").hidden = false;
  list("services", st.services || [], (s) => {
    const e = li(s.name + ": " + s.state + (s.pid ? " (pid " + s.pid + ")" : "") +
      (s.restarts ? ", " + s.restarts + " restarts" : "") + " ");
    e.dataset.service = s.name;
    const b = document.createElement("button");
    b.className = "logs";
    b.textContent = "logs";
    b.addEventListener("click", () => showLogs(s.name));
    e.append(b);
    return e;
  });
}

let busShown = null;
async function loadBus() {
  let consent;
  try {
    const r = await fetch("bus/consent");
    if (r.status === 401 || r.status === 404) {
      $("bus").hidden = true;
      $("nobus").hidden = false;
      return;
    }
    if (!r.ok) throw new Error("bus: HTTP " + r.status);
    consent = (await r.json()).requests || [];
  } catch (e) { return; /* the next refresh retries */ }
  $("bus").hidden = false;
  $("nobus").hidden = true;
  // Rebuild the requests only when they change, so that a click is
  // never lost to a refresh.
  const ids = consent.map((q) => q.id).join(",");
  if (ids !== busShown) {
    busShown = ids;
    list("consent", consent, consentItem);
  }
  try {
    const ctx = await getJSON("bus/context");
    list("context", ctx.items || [], (it) => li(it.kind + " (" + it.sensitivity + "): " + it.text));
    const audit = await getJSON("bus/audit?limit=20");
    list("audit", (audit.records || []).slice().reverse(), (a) =>
      li(new Date(a.time).toLocaleTimeString() + " " + a.action + " " + (a.target || "") + ": " + a.decision));
  } catch (e) { /* the next refresh retries */ }
}

loadModels();
loadRunning();
loadBus();
loadSystem();
setInterval(loadRunning, 5000);
setInterval(loadBus, 1000);
setInterval(loadSystem, 5000);
