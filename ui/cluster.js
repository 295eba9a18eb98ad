// cluster.js: the live teaching view (/ui/cluster). Plain JavaScript, no
// build step. It reads the endpoints of http_cluster.go:
//   /v1/operator/raft/state   every server's Raft state (polled each second)
//   /v1/agent/gossip/state    this agent's gossip pools (polled each second)
//   /v1/agent/events          the timeline: a blocking query (?index=), and
//                             each new event refreshes the states at once;
//                             with ?wait=0 in the page's address, polled
//                             each second instead (headless browsers, whose
//                             virtual time stands still while a request is
//                             open)
// and PUTs the teaching controls (/v1/operator/debug/...). A token given as
// ?token= in the page's address is sent as X-Consul-Token.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const blockWait = params.get("wait") || "30s";
const papers = {
  "Raft": "https://raft.github.io/raft.pdf",
  "dissertation": "https://github.com/ongardie/dissertation",
  "SWIM": "https://www.cs.cornell.edu/projects/Quicksilver/public_pdfs/SWIM.pdf",
  "Lifeguard": "https://arxiv.org/abs/1707.00788",
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

async function api(method, path) {
  const headers = token ? { "X-Consul-Token": token } : {};
  const resp = await fetch(path, { method, headers });
  const text = await resp.text();
  if (!resp.ok) {
    const err = new Error(`${method} ${path}: ${resp.status} ${text}`);
    err.status = resp.status;
    err.body = text;
    throw err;
  }
  return { body: text ? JSON.parse(text) : null, index: resp.headers.get("X-Consul-Index") };
}

function showError(msg) {
  const e = $("error");
  e.hidden = !msg;
  e.textContent = msg || "";
}

function ago(ms) {
  if (ms < 0) return "never";
  if (ms < 1000) return ms + " ms";
  return (ms / 1000).toFixed(1) + " s";
}

// --- Raft ---

function serverCard(s) {
  const down = !!s.Error || !!s.PausedUntil;
  const card = el("div", { class: "card " + (down ? "down" : s.Role), "data-node": s.Node, "data-role": s.Role });
  let roleText = s.Error ? "unreachable" : s.PausedUntil ? "paused" : s.Role;
  card.append(el("h3", {}, el("span", {}, s.Node || s.ID), el("span", { class: "role" }, roleText)));
  if (s.Error) {
    card.append(el("div", { class: "muted" }, s.Error));
    return card;
  }
  const dl = el("dl");
  const row = (k, v) => dl.append(el("dt", {}, k), el("dd", {}, v));
  row("term", s.Term);
  // A paused server answers from its last published status: no vote, no log term.
  row("voted for", s.PausedUntil ? "?" : s.Vote || "—");
  row("leader", s.Leader || "none known");
  row("last log", s.PausedUntil ? s.LastLogIndex : `${s.LastLogIndex} (term ${s.LastLogTerm})`);
  row("commit", s.CommitIndex);
  row("applied", s.AppliedIndex);
  row("snapshot", s.SnapshotIndex);
  row("last contact", s.Role === "leader" ? "—" : ago(s.LastContact));
  if (!s.Voter) row("suffrage", "non-voter");
  if (s.PausedUntil) row("paused until", new Date(s.PausedUntil).toLocaleTimeString());
  card.append(dl);
  if (s.Followers && s.Followers.length) {
    const prog = el("div", { class: "progress" }, el("div", { class: "muted" }, "replication (match / last log)"));
    for (const f of s.Followers) {
      const pct = s.LastLogIndex ? Math.min(100, 100 * f.MatchIndex / s.LastLogIndex) : 100;
      const bar = el("div", { class: "bar " + f.State }, el("span", { style: `width:${pct}%` }));
      const detail = `${f.MatchIndex}/${s.LastLogIndex} · next ${f.NextIndex} · ${f.State}` +
        (f.InFlight ? ` · ${f.InFlight} in flight` : "") + (f.State === "snapshot" ? ` @${f.SnapshotIndex}` : "");
      prog.append(el("div", { class: "row", title: `last answer ${ago(f.LastContact)} ago` }, f.Node, bar, detail));
    }
    card.append(prog);
  }
  return card;
}

async function refreshRaft() {
  const { body } = await api("GET", "/v1/operator/raft/state");
  const cards = $("servers");
  cards.replaceChildren(...body.Servers.map(serverCard));
  cards.dataset.leader = body.Leader;
  cards.dataset.term = body.Term;
}

// --- gossip ---

function poolTable(p) {
  const t = el("table", { "data-pool": p.Pool });
  t.append(el("caption", {}, `${p.Pool.toUpperCase()} pool at ${p.Self} · local health score ${p.HealthScore}/${p.HealthScoreMax}` +
    ` · probe interval ${p.ProbeInterval} ms · refuted ${p.Refutes}×`));
  t.append(el("tr", {}, ...["member", "address", "status", "incarnation", "for", "suspicion"].map((h) => el("th", {}, h))));
  for (const m of p.Members) {
    let susp = "";
    if (m.Suspicion) {
      const s = m.Suspicion;
      susp = `by ${s.Accusers.join(", ")} · confirmations ${s.Confirmations}/${s.Expected} · ` +
        `${ago(s.Elapsed)} of ${ago(s.Timeout)} (min ${ago(s.Min)}, max ${ago(s.Max)})`;
    }
    const name = m.Name + (m.Name === p.Self ? " (this agent)" : "") + (m.Dropped ? " · dropped" : "");
    t.append(el("tr", { "data-member": m.Name, "data-status": m.Status }, el("td", {}, name), el("td", {}, m.Addr),
      el("td", { class: m.Status }, m.Status), el("td", {}, m.Incarnation), el("td", {}, m.Since ? ago(m.Since) : ""),
      el("td", {}, susp)));
  }
  return t;
}

async function refreshGossip() {
  const { body } = await api("GET", "/v1/agent/gossip/state");
  const pools = [body.LAN].concat(body.WAN ? [body.WAN] : []);
  $("pools").replaceChildren(...pools.map(poolTable));
  const sel = document.querySelector("#drop select");
  const current = sel.value;
  sel.replaceChildren(...body.LAN.Members.map((m) => el("option", { value: m.Name }, m.Name)));
  if (current) sel.value = current;
}

// --- the timeline ---

function refLinks(ref) {
  const span = el("span", { class: "ref" });
  let paper = null;
  ref.split(", ").forEach((part, i) => {
    if (i) span.append(", ");
    const m = part.match(/^(Raft|dissertation|SWIM|Lifeguard) (§.*)$/);
    if (m) paper = m[1];
    if (m || (paper && part.startsWith("§"))) {
      span.append(el("a", { href: papers[paper], target: "_blank", rel: "noopener" }, part));
    } else {
      paper = null;
      span.append(el("code", {}, part));
    }
  });
  return span;
}

const events = [];
let eventIndex = 0;

// takeEvents merges a list of events into the page's.
function takeEvents(body, next) {
  if (Number(next) < eventIndex) events.length = 0; // the agent restarted: start again
  const seen = new Set(events.map((e) => e.Index));
  for (const e of body) if (!seen.has(e.Index)) events.push(e);
  while (events.length > 1000) events.shift();
  eventIndex = Number(next);
  renderTimeline();
}

async function pollTimeline() {
  const { body, index } = await api("GET", "/v1/agent/events");
  takeEvents(body, index);
}

function renderTimeline() {
  const items = events.slice().reverse().slice(0, 300).map((e) => el("li",
    { class: `${e.Source} ${e.Type}`, "data-type": e.Type, "data-member": e.Member || "", "data-term": e.Term || "" },
    el("div", { class: "meta" }, `${new Date(e.Time).toLocaleTimeString()} · ${e.Source} · ${e.Type}` +
      (e.Term ? ` · term ${e.Term}` : "")),
    el("div", {}, e.Summary), refLinks(e.Ref)));
  $("timeline").replaceChildren(...items);
}

async function followTimeline() {
  for (;;) {
    try {
      const path = eventIndex ? `/v1/agent/events?index=${eventIndex}&wait=${blockWait}` : "/v1/agent/events";
      const { body, index } = await api("GET", path);
      takeEvents(body, index);
      refresh();
    } catch (err) {
      showError(String(err.message || err));
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

// --- the controls ---

async function control(path, what) {
  const out = $("control-result");
  try {
    await api("PUT", path);
    out.textContent = what + ": done";
    refresh();
  } catch (err) {
    if (err.status === 404 && /enable_debug/.test(err.body)) $("controls-off").hidden = false;
    out.textContent = what + " failed: " + (err.body || err.message);
  }
}

function wireControls() {
  $("stepdown").addEventListener("submit", (ev) => {
    ev.preventDefault();
    control("/v1/operator/debug/raft/step-down", "step down");
  });
  $("pause").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const d = encodeURIComponent(ev.target.duration.value);
    control(`/v1/operator/debug/raft/pause?duration=${d}`, "pause");
  });
  $("drop").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const m = encodeURIComponent(ev.target.member.value), d = encodeURIComponent(ev.target.duration.value);
    control(`/v1/operator/debug/gossip/drop?member=${m}&duration=${d}`, "drop gossip");
  });
}

// --- refreshing ---

const agent = { server: false };
let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    await Promise.all([refreshRaft(), refreshGossip()].concat(blockWait === "0" ? [pollTimeline()] : []));
    showError("");
  } catch (err) {
    showError(String(err.message || err));
  } finally {
    refreshing = false;
  }
}

async function start() {
  wireControls();
  try {
    const { body } = await api("GET", "/v1/agent/self");
    agent.server = body.Config.Server;
    $("agent").textContent = `agent ${body.Config.NodeName} (${agent.server ? "server" : "client"}) · ${body.Config.Datacenter}`;
    if (!agent.server) $("raft").querySelector("small").textContent = "every server's state, through a server";
  } catch (err) {
    showError(String(err.message || err));
  }
  await refresh();
  setInterval(refresh, 1000);
  if (blockWait !== "0") followTimeline();
}

start();
