// llm-compare web UI: plain JavaScript, no build step. It speaks the public API only
// (/v1/models, /v1/sessions, /v1/comparisons + SSE stream, /v1/leaderboard), so what it
// shows is what any client of the server gets.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
};
const LETTERS = "ABCDEFGH";
const KEY_STORE = "llm-compare.key";
const THEME_STORE = "llm-compare.theme";

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "http_" + status;
    this.field = err.field;
  }
}

const api = {
  key: localStorage.getItem(KEY_STORE) || "",
  headers(extra = {}) {
    const h = { ...extra };
    if (this.key) h.Authorization = "Bearer " + this.key;
    return h;
  },
  async call(method, path, body) {
    const opts = { method, headers: this.headers() };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path, opts);
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (resp.status === 401) {
      keyDialog.open(this.key ? "That key was not accepted." : "");
    }
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  },
  get(path) { return this.call("GET", path); },
  post(path, body) { return this.call("POST", path, body); },
  del(path) { return this.call("DELETE", path); },
  patch(path, body) { return this.call("PATCH", path, body); },
};

// ---------------------------------------------------------------- formatting

const fmt = {
  ms(v) { return v == null ? "—" : v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(2)} s`; },
  usd(v) {
    if (v == null) return "—";
    if (v === 0) return "$0";
    if (v < 0.0001) return "$" + v.toExponential(1);
    return "$" + v.toFixed(v < 0.01 ? 5 : 4);
  },
  num(v) { return v == null ? "—" : Number(v).toLocaleString("en-US"); },
  date(ms) { return new Date(ms).toLocaleString(); },
};

function errorText(e) {
  if (e instanceof ApiError) {
    return e.field ? `${e.message} (field: ${e.field})` : e.message;
  }
  return "Cannot reach the server: " + (e && e.message ? e.message : e);
}

function notice(msg) {
  const n = $("#notice");
  n.textContent = msg || "";
  n.hidden = !msg;
}

function announce(msg) {
  $("#announce").textContent = msg;
}

// ---------------------------------------------------------------- markdown

let markedReady = false;
function renderMarkdown(text) {
  if (!window.marked || !window.DOMPurify) return null;
  if (!markedReady) {
    window.marked.use({
      gfm: true,
      breaks: false,
      renderer: {
        code({ text: code, lang }) {
          const language = (lang || "").trim().split(/\s+/)[0].toLowerCase();
          let html;
          if (language && window.hljs && window.hljs.getLanguage(language)) {
            html = window.hljs.highlight(code, { language, ignoreIllegals: true }).value;
          } else {
            html = code.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
          }
          const cls = language ? ` language-${language.replace(/[^a-z0-9_+-]/g, "")}` : "";
          return `<pre><code class="hljs${cls}">${html}</code></pre>\n`;
        },
      },
    });
    markedReady = true;
  }
  // Model output is untrusted: sanitized, and the page's CSP forbids inline scripts anyway.
  return window.DOMPurify.sanitize(window.marked.parse(text, { async: false }));
}

// ---------------------------------------------------------------- SSE over fetch

// EventSource cannot send an Authorization header, so the stream is read with fetch and
// parsed here; on a drop it reconnects with Last-Event-ID and the server resumes after it.
class EventStream {
  constructor(url, onEvent, hooks = {}) {
    this.url = url;
    this.onEvent = onEvent;
    this.hooks = hooks;
    this.lastSeq = 0;
    this.closed = false;
    this.reconnects = 0;
    this.controller = null;
  }

  start() { this.loop(); return this; }

  close() {
    this.closed = true;
    if (this.controller) this.controller.abort();
  }

  async loop() {
    let delay = 250;
    while (!this.closed) {
      let progressed = false;
      try {
        this.controller = new AbortController();
        const headers = api.headers({ Accept: "text/event-stream" });
        if (this.lastSeq > 0) headers["Last-Event-ID"] = String(this.lastSeq);
        const resp = await fetch(this.url, { headers, signal: this.controller.signal, cache: "no-store" });
        if (resp.status === 401) { keyDialog.open(""); }
        // 204: finished, and every event was seen already.
        if (resp.status === 204) { this.closed = true; return; }
        if (!resp.ok) {
          let body = null;
          try { body = await resp.json(); } catch { body = null; }
          const err = new ApiError(resp.status, body);
          // 4xx other than 429 will not change by retrying.
          if (resp.status >= 400 && resp.status < 500 && resp.status !== 429) {
            this.closed = true;
            if (this.hooks.onFatal) this.hooks.onFatal(err);
            return;
          }
          throw err;
        }
        if (this.hooks.onOpen) this.hooks.onOpen();
        const reader = resp.body.getReader();
        const decoder = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
          let cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const ev = parseSse(block);
            if (!ev) continue;
            if (ev.id !== undefined) this.lastSeq = Number(ev.id);
            progressed = true;
            delay = 250;
            const done = this.onEvent(ev.data);
            if (done) { this.closed = true; return; }
          }
        }
      } catch (e) {
        if (this.closed) return;
      }
      if (this.closed) return;
      // The stream ended before `complete`: a dropped connection or a server going away.
      this.reconnects += 1;
      if (this.hooks.onDrop) this.hooks.onDrop(this.reconnects);
      await new Promise((r) => setTimeout(r, progressed ? 100 : delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

function parseSse(block) {
  let data = "";
  let id;
  let any = false;
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") { data += (any ? "\n" : "") + value; any = true; }
    else if (field === "id") id = value;
  }
  if (!any) return null;
  try { return { id, data: JSON.parse(data) }; } catch { return null; }
}

// ---------------------------------------------------------------- models

/** What each cost `source` means, for the cost badge's tooltip. */
const COST_SOURCES = {
  provider: "charged: reported by the provider",
  price_table: "price table × reported usage",
  config: "configured price × reported usage",
  estimated: "price × estimated usage (tokenizer)",
};

/** @type {Promise<{store: boolean, budgets: boolean, registry: string}> | null} */
let featuresPromise = null;

/** What the server was set up with (`GET /health`), asked once. */
function serverFeatures() {
  if (!featuresPromise) {
    featuresPromise = fetch("/health", { cache: "no-store" })
      .then((r) => r.json())
      .then((h) => h.features)
      .catch(() => {
        featuresPromise = null;
        return { store: false, budgets: false, registry: "memory" };
      });
  }
  return featuresPromise;
}

const catalogue = { list: [], byId: new Map(), loaded: false };

async function loadModels() {
  const box = $("#model-list");
  try {
    const data = await api.get("/v1/models");
    catalogue.list = data.data;
    catalogue.byId = new Map(data.data.map((m) => [m.id, m]));
    catalogue.loaded = true;
  } catch (e) {
    box.textContent = errorText(e);
    box.setAttribute("aria-busy", "false");
    return;
  }
  const chosen = JSON.parse(localStorage.getItem("llm-compare.models") || "null") ||
    ["sim/echo", "sim/lorem"];
  box.replaceChildren();
  box.setAttribute("aria-busy", "false");
  const sorted = [...catalogue.list].sort((a, b) =>
    (b.available - a.available) || a.id.localeCompare(b.id));
  for (const m of sorted) {
    const id = "model-" + m.id.replace(/[^a-zA-Z0-9]/g, "-");
    const price = m.input_usd_per_million != null
      ? `$${m.input_usd_per_million} / $${m.output_usd_per_million} per M tokens` : "";
    const input = el("input", {
      type: "checkbox", id, value: m.id, name: "model",
      disabled: !m.available, checked: m.available && chosen.includes(m.id),
      "aria-describedby": id + "-why", "data-lacks": (m.lacks || []).join(","),
    });
    box.append(el("div", { class: "model-option" + (m.available ? "" : " unavailable") },
      input,
      el("label", { for: id },
        m.id,
        el("span", { class: "why", id: id + "-why", text: m.available ? price : (m.reason || "unavailable") }))));
  }
  box.addEventListener("change", limitModels);
  limitModels();
}

function selectedModels() {
  return [...document.querySelectorAll("#model-list input:checked")].map((i) => i.value);
}

function limitModels() {
  const n = selectedModels().length;
  for (const i of document.querySelectorAll("#model-list input")) {
    const m = catalogue.byId.get(i.value);
    i.disabled = !(m && m.available) || (!i.checked && n >= 8);
  }
}

function readParams(root = document) {
  const p = {};
  const t = $("#temperature", root).value;
  const mt = $("#max-tokens", root).value;
  const tp = $("#top-p", root).value;
  if (t !== "") p.temperature = Number(t);
  if (mt !== "") p.max_tokens = Number(mt);
  if (tp !== "") p.top_p = Number(tp);
  return Object.keys(p).length ? p : undefined;
}

// ---------------------------------------------------------------- one turn

// One comparison: a row of columns, one per model, fed by its event stream.
class Turn {
  constructor({ id, models, prompt, blind, live, onDone }) {
    this.id = id;
    this.prompt = prompt;
    this.blind = !!blind;
    this.live = !!live; // started on this page: client-side timings are meaningful
    this.onDone = onDone;
    this.status = "pending";
    this.finished = false;
    this.preference = null;
    this.cols = models.map((m, i) => this.column(m, i));
    this.build();
  }

  column(model, i) {
    return {
      index: i, model, text: "", reasoning: "", tools: [], stage: "queued", error: null,
      result: null, chunks: 0, startedAt: null, firstAt: null, lastAt: null, dirty: false,
    };
  }

  build() {
    const root = el("article", { class: "turn", "data-request-id": this.id, "aria-label": "Comparison" });
    if (this.prompt) root.append(el("div", { class: "turn-prompt", text: this.prompt }));
    this.statusEl = el("span", { class: "turn-status", role: "status", text: "Starting…" });
    this.stopBtn = el("button", { type: "button", class: "danger stop", text: "Stop", onclick: () => this.stop() });
    root.append(el("div", { class: "turn-bar" }, this.stopBtn, this.statusEl));
    const grid = el("div", { class: "columns" });
    grid.style.setProperty("--cols", String(Math.min(this.cols.length, 4)));
    for (const c of this.cols) grid.append(this.columnEl(c));
    root.append(grid);
    this.voteEl = el("div", { class: "vote", hidden: true });
    root.append(this.voteEl);
    this.root = root;
  }

  columnEl(c) {
    const colour = `var(--m${c.index % 8})`;
    c.nameEl = el("span", { class: "col-name", text: c.model });
    c.stageEl = el("span", { class: "stage", "data-stage": c.stage, text: c.stage });
    c.badges = {
      ttft: el("b", { text: "—" }), tps: el("b", { text: "—" }),
      tokens: el("b", { text: "—" }), cost: el("b", { text: "—" }),
    };
    const badge = (label, b, cls) => el("span", { class: "badge " + cls, title: label }, label + " ", b);
    c.reasoningEl = el("details", { class: "reasoning", hidden: true }, el("summary", { text: "Reasoning" }), el("div"));
    c.bodyEl = el("div", { class: "col-body", "data-empty": "true" });
    c.toolsEl = el("div", { class: "tool-calls", hidden: true });
    c.jsonEl = el("div", { class: "json-result", hidden: true });
    c.errorEl = el("div", { class: "col-error", role: "alert", hidden: true });
    c.el = el("section", {
      class: "col", "data-index": String(c.index),
      "aria-label": `${LETTERS[c.index]}: ${c.model}`,
    },
    el("div", { class: "col-head" }, el("span", { class: "letter", "aria-hidden": "true", text: LETTERS[c.index] }), c.nameEl, c.stageEl),
    el("div", { class: "badges" },
      badge("TTFT", c.badges.ttft, "b-ttft"), badge("tok/s", c.badges.tps, "b-tps"),
      badge("tokens", c.badges.tokens, "b-tokens"), badge("cost", c.badges.cost, "b-cost")),
    c.reasoningEl, c.bodyEl, c.toolsEl, c.jsonEl, c.errorEl);
    // Through CSSOM: the CSP forbids style attributes.
    c.el.style.setProperty("--mc", colour);
    return c.el;
  }

  // Opens the stream (from the start: events replay, so a reopened page rebuilds exactly).
  stream() {
    this.es = new EventStream(`/v1/comparisons/${this.id}/stream`, (e) => this.apply(e), {
      onOpen: () => { this.root.dataset.connected = "true"; },
      onDrop: (n) => {
        this.root.dataset.reconnects = String(n);
        this.statusEl.textContent = "Connection lost — reconnecting…";
      },
      onFatal: (err) => {
        // Gone from the live registry (finished long ago, or the server restarted): the
        // store's snapshot has what remains.
        if (err.status === 404) this.loadSnapshot();
        else this.statusEl.textContent = errorText(err);
      },
    }).start();
  }

  async loadSnapshot() {
    try {
      const snap = await api.get(`/v1/comparisons/${this.id}`);
      this.fromSnapshot(snap);
    } catch (e) {
      this.statusEl.textContent = errorText(e);
    }
  }

  fromSnapshot(snap) {
    this.blind = !!snap.blind;
    for (const m of snap.models) {
      const c = this.cols[m.model_index];
      if (!c) continue;
      c.model = m.model;
      c.nameEl.textContent = m.model;
      c.text = m.result ? m.result.text : m.text;
      c.stage = m.stage;
      if (m.result) this.setResult(c, m.result);
      c.dirty = true;
      this.paint(c);
    }
    this.preference = snap.preference || null;
    this.setStatus(snap.status);
    if (["pending", "running"].includes(snap.status)) this.stream();
    else this.finish();
  }

  apply(e) {
    const c = e.model_index != null ? this.cols[e.model_index] : null;
    const now = performance.now();
    switch (e.type) {
      case "status":
        this.setStatus(e.status);
        break;
      case "stage":
        if (!c) break;
        c.stage = e.stage;
        if (e.stage === "connecting") c.startedAt = now;
        c.stageEl.textContent = e.stage;
        c.stageEl.dataset.stage = e.stage;
        break;
      case "response_chunk":
        if (!c) break;
        if (c.firstAt == null) c.firstAt = now;
        c.lastAt = now;
        c.text += e.delta;
        c.chunks += 1;
        this.schedule(c);
        break;
      case "reasoning_chunk":
        if (!c) break;
        c.reasoning += e.delta;
        this.schedule(c);
        break;
      case "tool_call":
        if (!c) break;
        c.tools.push(e);
        this.schedule(c);
        break;
      case "error":
        if (c) {
          c.error = e;
          this.showError(c, e);
        } else if (e.code === "shutting_down") {
          this.statusEl.textContent = "The server is restarting — reconnecting…";
        } else {
          this.statusEl.textContent = `Error: ${e.message}`;
        }
        break;
      case "model_result":
        if (!c) break;
        c.text = e.text;
        this.setResult(c, e);
        c.dirty = true;
        this.paint(c);
        break;
      case "complete":
        for (const r of e.results) {
          const col = this.cols[r.model_index];
          if (col && !col.result) { col.text = r.text; this.setResult(col, r); col.dirty = true; this.paint(col); }
        }
        this.setStatus(e.status);
        this.totals = e.totals;
        this.duration = e.duration_ms;
        this.finish();
        return true;
      default:
        break;
    }
    return false;
  }

  setStatus(status) {
    this.status = status;
    this.root.dataset.status = status;
    const words = {
      pending: "Starting…", running: "Streaming…", completed: "Completed", failed: "Every model failed",
      cancelled: "Stopped", interrupted: "Interrupted (the server stopped)",
    };
    this.statusEl.textContent = words[status] || status;
  }

  setResult(c, r) {
    c.result = r;
    const cancelled = r.finish_reason === "cancelled" || (r.error && r.error.code === "cancelled");
    c.stage = cancelled ? "cancelled" : r.error ? "failed" : "done";
    c.stageEl.textContent = c.stage;
    c.stageEl.dataset.stage = c.stage;
    if (r.error) this.showError(c, r.error);
    if (r.reasoning) c.reasoning = r.reasoning;
    if (r.tool_calls) c.tools = r.tool_calls;
    if (r.served_by) c.nameEl.textContent = `${c.model} (served by ${r.served_by})`;
  }

  showError(c, e) {
    // Stopping is not a failure: the stage says "cancelled".
    if (e.code === "cancelled") return;
    c.errorEl.hidden = false;
    c.errorEl.textContent = `${e.code}: ${e.message}` + (e.retryable ? " (retryable)" : "");
    c.el.dataset.error = e.code;
  }

  // Repaints at most once per frame per column: fast streams stay smooth.
  schedule(c) {
    c.dirty = true;
    if (c.pending) return;
    c.pending = true;
    requestAnimationFrame(() => { c.pending = false; this.paint(c); });
  }

  paint(c) {
    if (!c.dirty) return;
    c.dirty = false;
    const structured = c.result && c.result.structured;
    const pretty = structured && prettyJson(c.text);
    if (pretty !== null && pretty !== undefined) {
      // A structured answer: the JSON pretty-printed, under a valid / invalid badge.
      c.bodyEl.replaceChildren(el("pre", {}, el("code", { class: "language-json", text: pretty })));
    } else {
      const html = renderMarkdown(c.text);
      if (html === null) c.bodyEl.textContent = c.text; else c.bodyEl.innerHTML = html;
    }
    if (structured) {
      const errors = structured.errors || [];
      c.jsonEl.hidden = false;
      c.jsonEl.replaceChildren(
        el("span", { class: "badge " + (structured.valid ? "json-valid" : "json-invalid"),
          text: structured.valid ? "JSON ✓ valid" : `JSON ✗ invalid (${errors.length})` }),
        ...errors.map((e) => el("div", { class: "json-error", text: `${e.path || "/"}: ${e.message}` })));
    }
    c.bodyEl.dataset.empty = c.text ? "false" : (c.result ? "false" : "true");
    c.bodyEl.classList.toggle("caret", !c.result && c.text.length > 0);
    if (c.reasoning) {
      c.reasoningEl.hidden = false;
      c.reasoningEl.lastChild.textContent = c.reasoning;
    }
    if (c.tools.length) {
      c.toolsEl.hidden = false;
      c.toolsEl.replaceChildren(...c.tools.map((t) =>
        el("pre", {}, el("code", { text: `${t.name}(${t.arguments})` }))));
    }
    this.badges(c);
  }

  badges(c) {
    const b = c.badges;
    const r = c.result;
    if (r) {
      b.ttft.textContent = fmt.ms(r.timing.ttft_ms);
      b.tps.textContent = r.timing.tokens_per_s == null ? "—" : r.timing.tokens_per_s.toFixed(1);
      b.tokens.textContent = `${fmt.num(r.usage.input_tokens)} → ${fmt.num(r.usage.output_tokens)}`;
      b.cost.textContent = r.cost.priced ? fmt.usd(r.cost.total_usd) : "unpriced";
      // Where the figure came from, on hover.
      b.cost.title = r.cost.priced ? (COST_SOURCES[r.cost.source] || "") : "not in the price table";
      c.el.dataset.final = "true";
      return;
    }
    // While streaming: estimates, marked with "~" (one chunk is about one token).
    b.tokens.textContent = "~" + c.chunks;
    if (this.live && c.startedAt != null && c.firstAt != null) {
      b.ttft.textContent = "~" + fmt.ms(c.firstAt - c.startedAt);
      const span = (c.lastAt - c.firstAt) / 1000;
      if (span > 0.2 && c.chunks > 1) b.tps.textContent = "~" + ((c.chunks - 1) / span).toFixed(1);
    }
    const price = catalogue.byId.get(c.model);
    if (price && price.output_usd_per_million != null) {
      const est = ((this.prompt || "").length / 4) * price.input_usd_per_million +
        c.chunks * price.output_usd_per_million;
      b.cost.textContent = "~" + fmt.usd(est / 1e6);
    }
  }

  async stop() {
    this.stopBtn.disabled = true;
    try {
      await api.del(`/v1/comparisons/${this.id}`);
      if (!this.finished) this.statusEl.textContent = "Stopping…";
    } catch (e) {
      this.stopBtn.disabled = false;
      notice(errorText(e));
    }
  }

  finish() {
    if (this.finished) return;
    this.finished = true;
    this.stopBtn.hidden = true;
    for (const c of this.cols) { c.dirty = true; this.paint(c); }
    this.root.dataset.finished = "true";
    announce(`Comparison ${this.statusEl.textContent.toLowerCase()}.`);
    this.renderVote();
    if (this.onDone) this.onDone(this);
  }

  renderVote() {
    this.voteEl.hidden = false;
    if (this.preference) {
      const w = this.preference.winner;
      const what = typeof w === "number" ? `${LETTERS[w]} (${this.cols[w].model}) is better`
        : w === "tie" ? "tie" : "all bad";
      this.voteEl.replaceChildren(el("span", { class: "vote-done", text: `You voted: ${what}.` }));
      return;
    }
    if (!this.cols.some((c) => c.result && !c.result.error)) {
      this.voteEl.hidden = true;
      return;
    }
    const feedback = el("input", { type: "text", class: "feedback", "aria-label": "Feedback (optional)", placeholder: "Why? (optional)", maxlength: "2000" });
    const choose = (winner) => this.vote(winner, feedback.value.trim());
    const buttons = this.cols.map((c) => el("button", {
      type: "button", class: "vote-model", "data-winner": String(c.index),
      text: `${LETTERS[c.index]} is better`, onclick: () => choose(c.index),
      // A model that failed without a word cannot be the better answer.
      disabled: !!(c.result && c.result.error && !c.text),
    }));
    if (this.cols.length > 1) {
      buttons.push(el("button", { type: "button", class: "vote-tie", text: "Tie", onclick: () => choose("tie") }));
    }
    buttons.push(el("button", { type: "button", class: "vote-bad", text: "All bad", onclick: () => choose("all_bad") }));
    this.voteEl.replaceChildren(
      el("div", { class: "hint", text: this.blind ? "Which answer is better? Names are revealed after you vote." : "Which answer is better?" }),
      el("div", { class: "vote-buttons", role: "group", "aria-label": "Vote" }, ...buttons),
      feedback);
  }

  async vote(winner, feedback) {
    for (const b of this.voteEl.querySelectorAll("button")) b.disabled = true;
    try {
      const body = { winner };
      if (feedback) body.feedback = feedback;
      await api.post(`/v1/comparisons/${this.id}/preference`, body);
      this.preference = body;
      if (this.blind) {
        // Revealed now: the snapshot names the models.
        const snap = await api.get(`/v1/comparisons/${this.id}`);
        for (const m of snap.models) {
          const c = this.cols[m.model_index];
          if (c) { c.model = m.model; c.nameEl.textContent = m.model; c.el.setAttribute("aria-label", `${LETTERS[c.index]}: ${m.model}`); }
        }
      }
      this.renderVote();
      announce("Vote recorded.");
    } catch (e) {
      if (!this.preference) this.renderVote();
      notice(errorText(e));
    }
  }
}

// ---------------------------------------------------------------- conversation view

const conv = {
  kind: null, // "session" | "comparison"
  id: null,
  turns: [],
  title: "",

  reset() {
    for (const t of this.turns) if (t.es) t.es.close();
    this.kind = null;
    this.id = null;
    this.turns = [];
    $("#turns").replaceChildren();
    $("#conversation").hidden = true;
    $("#setup").hidden = false;
    $("#follow-up").hidden = true;
  },

  show(title) {
    $("#setup").hidden = true;
    $("#conversation").hidden = false;
    const first = (title || "").split("\n").map((l) => l.trim()).find(Boolean) || "Comparison";
    const short = first.length > 90 ? first.slice(0, 89) + "…" : first;
    $("#conv-title").textContent = short;
    document.title = `${short} · llm-compare`;
  },

  add(turn) {
    this.turns.push(turn);
    $("#turns").append(turn.root);
    this.updateFollowUp();
  },

  updateFollowUp() {
    const last = this.turns[this.turns.length - 1];
    const f = $("#follow-up");
    f.hidden = !(this.kind === "session" && last && last.finished);
  },

  turnDone() {
    conv.updateFollowUp();
    if (!$("#follow-up").hidden) $("#follow-prompt").focus({ preventScroll: true });
  },
};

// ---------------------------------------------------------------- attachments

/** Files to send with the next prompt, as `{file, part}` (part: the API's image/file part). */
const attached = [];
const ACCEPTED = ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"];

/** Reads `file` as an attachment part (base64 data). */
function readPart(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onerror = () => reject(reader.error);
    reader.onload = () => {
      const data = String(reader.result).split(",", 2)[1] || "";
      resolve(file.type.startsWith("image/")
        ? { type: "image", media_type: file.type, data }
        : { type: "file", media_type: file.type, data, name: file.name });
    };
    reader.readAsDataURL(file);
  });
}

async function attach(files) {
  for (const file of files) {
    if (!ACCEPTED.includes(file.type)) {
      notice(`${file.name || "That file"} is not an image (PNG, JPEG, GIF, WebP), a PDF or a text file.`);
      continue;
    }
    attached.push({ file, part: await readPart(file) });
  }
  renderAttachments();
}

function renderAttachments() {
  const box = $("#attachments");
  box.replaceChildren(...attached.map((a, i) => {
    const preview = a.part.type === "image"
      ? el("img", { class: "thumb", alt: a.file.name || "pasted image", src: `data:${a.part.media_type};base64,${a.part.data}` })
      : el("span", { class: "file-chip", text: a.file.name || a.part.media_type });
    return el("span", { class: "attachment" }, preview,
      el("button", { type: "button", class: "ghost remove", "aria-label": `Remove ${a.file.name || "attachment"}`, text: "×",
        onclick: () => { attached.splice(i, 1); renderAttachments(); } }));
  }));
  limitToAttachments();
}

/** Models known not to take what is attached are disabled, saying why. */
function limitToAttachments() {
  const needs = new Set(attached.map((a) => (a.part.type === "image" ? "vision" : a.part.media_type === "application/pdf" ? "pdf" : null)).filter(Boolean));
  for (const input of document.querySelectorAll("#model-list input")) {
    const lacks = (input.dataset.lacks || "").split(",").filter((c) => needs.has(c));
    const why = document.getElementById(input.id + "-why");
    if (lacks.length) {
      input.checked = false;
      input.disabled = true;
      input.dataset.attachDisabled = "true";
      if (why) why.dataset.attach = `does not take ${lacks.map((c) => (c === "vision" ? "images" : "PDFs")).join(" or ")}`;
    } else if (input.dataset.attachDisabled === "true") {
      input.disabled = false;
      delete input.dataset.attachDisabled;
      if (why) delete why.dataset.attach;
    }
  }
}

async function startComparison(ev) {
  ev.preventDefault();
  notice("");
  const models = selectedModels();
  const prompt = $("#prompt").value.trim();
  if (!models.length) { notice("Choose at least one model."); return; }
  if (!prompt) { notice("Type a prompt."); $("#prompt").focus(); return; }
  localStorage.setItem("llm-compare.models", JSON.stringify(models));
  const system = $("#system").value.trim() || undefined;
  const params = readParams();
  const blind = $("#blind").checked || undefined;
  const btn = $("#start");
  btn.disabled = true;
  try {
    // A session, so the conversation can go on; a server without a store (it says so in
    // /health's features), or a prompt with attachments (sessions take text turns), gets a
    // one-off comparison instead.
    const attachments = attached.map((a) => a.part);
    const session = (await serverFeatures()).store && !attachments.length
      ? await api.post("/v1/sessions", { models, system, title: prompt.slice(0, 120) })
      : null;
    const body = session
      ? { session_id: session.id, prompt, params, blind }
      : { prompt, models, system, params, blind, attachments: attachments.length ? attachments : undefined };
    let created;
    try {
      created = await api.post("/v1/comparisons", body);
    } catch (e) {
      // Refused (budget, rate, a bad parameter): leave no empty session behind.
      if (session) api.del(`/v1/sessions/${session.id}`).catch(() => {});
      throw e;
    }
    conv.reset();
    conv.kind = session ? "session" : "comparison";
    conv.id = session ? session.id : created.request_id;
    conv.show(prompt);
    const turn = new Turn({ id: created.request_id, models: created.models, prompt, blind, live: true, onDone: () => conv.turnDone() });
    conv.add(turn);
    turn.stream();
    $("#prompt").value = "";
    attached.length = 0;
    renderAttachments();
    ignoreNextRoute = true;
    location.hash = session ? `#/s/${session.id}` : `#/c/${created.request_id}`;
  } catch (e) {
    notice(errorText(e));
  } finally {
    btn.disabled = false;
  }
}

async function sendFollowUp(ev) {
  ev.preventDefault();
  notice("");
  const prompt = $("#follow-prompt").value.trim();
  if (!prompt) { $("#follow-prompt").focus(); return; }
  const btn = $("#follow-send");
  btn.disabled = true;
  try {
    const created = await api.post("/v1/comparisons", {
      session_id: conv.id, prompt, params: readParams(), blind: $("#follow-blind").checked || undefined,
    });
    const turn = new Turn({ id: created.request_id, models: created.models, prompt, blind: $("#follow-blind").checked, live: true, onDone: () => conv.turnDone() });
    conv.add(turn);
    turn.stream();
    $("#follow-prompt").value = "";
    $("#follow-up").hidden = true;
  } catch (e) {
    notice(errorText(e));
  } finally {
    btn.disabled = false;
  }
}

async function openSession(id) {
  conv.reset();
  try {
    const s = await api.get(`/v1/sessions/${encodeURIComponent(id)}`);
    conv.kind = "session";
    conv.id = id;
    conv.show(s.title || "Session");
    for (const snap of s.turns) {
      const turn = new Turn({ id: snap.request_id, models: snap.models.map((m) => m.model), prompt: snap.prompt, blind: snap.blind, onDone: () => conv.turnDone() });
      conv.add(turn);
      openTurn(turn, snap);
    }
    conv.updateFollowUp();
  } catch (e) {
    notice(errorText(e));
  }
}

async function openComparison(id) {
  conv.reset();
  try {
    const snap = await api.get(`/v1/comparisons/${encodeURIComponent(id)}`);
    if (snap.session_id) { location.hash = `#/s/${snap.session_id}`; return; }
    conv.kind = "comparison";
    conv.id = id;
    conv.show(snap.prompt || "Comparison");
    const turn = new Turn({ id, models: snap.models.map((m) => m.model), prompt: snap.prompt, blind: snap.blind, onDone: () => conv.turnDone() });
    conv.add(turn);
    openTurn(turn, snap);
  } catch (e) {
    notice(errorText(e));
  }
}

// A turn still running is streamed from its first event (exact text, live from there on);
// a finished one is drawn from its snapshot.
function openTurn(turn, snap) {
  if (["pending", "running"].includes(snap.status)) {
    turn.preference = snap.preference || null;
    turn.stream();
  } else {
    turn.fromSnapshot(snap);
  }
}

// ---------------------------------------------------------------- history

const cursors = { sessions: null, comparisons: null, keys: null };

async function loadHistory(kind, more) {
  const list = $(kind === "sessions" ? "#session-list" : "#comparison-list");
  const btn = $(kind === "sessions" ? "#more-sessions" : "#more-comparisons");
  if (!more) { list.replaceChildren(); cursors[kind] = null; }
  const q = new URLSearchParams({ limit: "20" });
  if (more && cursors[kind]) q.set("cursor", cursors[kind]);
  try {
    const page = await api.get(`/v1/${kind}?${q}`);
    const items = page[kind];
    if (!items.length && !more) list.append(el("li", { class: "hint", text: kind === "sessions" ? "No sessions yet." : "No comparisons yet." }));
    for (const it of items) {
      if (kind === "sessions") {
        list.append(el("li", {}, el("a", { href: `#/s/${it.id}` },
          el("span", { class: "title", text: it.title || "Untitled session" }),
          el("span", { class: "meta", text: `${it.models.join(", ")} · ${it.turn_count} turn${it.turn_count === 1 ? "" : "s"} · ${fmt.date(it.created_at_ms)}` }))));
      } else {
        list.append(el("li", {}, el("a", { href: `#/c/${it.id}` },
          el("span", { class: "title", text: it.prompt || "(messages)" }),
          el("span", { class: "meta", text: `${it.models.join(", ")} · ${it.status}${it.voted ? " · voted" : ""} · ${fmt.date(it.created_at_ms)}` }))));
      }
    }
    cursors[kind] = page.next_cursor || null;
    btn.hidden = !page.next_cursor;
  } catch (e) {
    list.replaceChildren(el("li", { class: "hint", text: errorText(e) }));
    btn.hidden = true;
  }
}

/** `text` as indented JSON, or null when it is not JSON. */
function prettyJson(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return null; }
}

// ---------------------------------------------------------------- keys

/** A key's limits, in words. */
function limitsText(k) {
  const parts = [];
  if (k.rpm) parts.push(`${k.rpm}/min`);
  if (k.max_active) parts.push(`${k.max_active} at once`);
  if (k.budget_usd != null) parts.push(`${fmt.usd(k.budget_usd)} per ${k.period || "month"}`);
  if (k.expires_at_ms) parts.push(`until ${fmt.date(k.expires_at_ms)}`);
  return parts.join(" · ") || "none";
}

async function loadKeys(more) {
  const facts = $("#self-key");
  let me;
  try {
    me = await api.get("/v1/keys/self");
  } catch (e) {
    facts.replaceChildren(el("dd", { text: errorText(e) }));
    return;
  }
  const row = (term, value) => [el("dt", { text: term }), el("dd", { text: value })];
  const k = me.key;
  facts.replaceChildren(
    ...row("User", me.user),
    ...row("Key", k ? `${k.prefix}… (${k.scope})` : me.kind === "open" ? "none needed: this server is open" : "configured on the server"),
    ...(k ? row("Models", k.models.length ? k.models.join(" ") : "every model") : []),
    ...(k ? row("Limits", limitsText(k)) : []),
    ...(me.budget ? row("Budget", `${fmt.usd(me.budget.spent_usd)} spent, ${fmt.usd(me.budget.reserved_usd)} held, ${fmt.usd(me.budget.remaining_usd)} left of ${fmt.usd(me.budget.limit_usd)} this ${me.budget.period}`) : []),
  );
  const admin = !!(k && k.scope === "admin");
  $("#keys-admin").hidden = !admin;
  if (!admin) return;
  const body = $("#keys-table tbody");
  if (!more) { body.replaceChildren(); cursors.keys = null; }
  const q = new URLSearchParams({ limit: "50" });
  if (more && cursors.keys) q.set("cursor", cursors.keys);
  const page = await api.get(`/v1/keys?${q}`);
  for (const key of page.data) body.append(keyRow(key));
  cursors.keys = page.next_cursor || null;
  $("#more-keys").hidden = !page.next_cursor;
}

function keyRow(k) {
  const tr = el("tr", { "data-key-id": k.id });
  const revoke = el("button", { type: "button", class: "ghost", text: "Revoke", disabled: k.status === "revoked",
    onclick: async () => {
      if (!confirm(`Revoke ${k.prefix}… (${k.user})? Every server refuses it within a second.`)) return;
      try { tr.replaceWith(keyRow(await api.del(`/v1/keys/${k.id}`))); } catch (e) { notice(errorText(e)); }
    } });
  const edit = el("button", { type: "button", class: "ghost", text: "Edit limits", disabled: k.status === "revoked",
    onclick: () => tr.after(editRow(k, tr)) });
  tr.append(
    el("td", {}, el("code", { text: k.prefix + "…" })),
    el("td", { text: k.user }),
    el("td", { text: k.name || "" }),
    el("td", { text: k.scope }),
    el("td", { text: k.models.length ? k.models.join(" ") : "all" }),
    el("td", { class: "limits", text: limitsText(k) }),
    el("td", { class: "status", text: k.status }),
    el("td", { text: k.last_used_at_ms ? fmt.date(k.last_used_at_ms) : "never" }),
    el("td", {}, edit, revoke),
  );
  return tr;
}

/** An inline form under a key's row: its limits, changed with PATCH. */
function editRow(k, tr) {
  const num = (v) => (v === "" ? null : Number(v));
  const input = (label, value, attrs = {}) => el("label", {}, label + " ", el("input", { value: value ?? "", ...attrs }));
  const models = input("Models", k.models.join(" "), { name: "models" });
  const rpm = input("Requests / min", k.rpm, { name: "rpm", type: "number", min: "1" });
  const active = input("At once", k.max_active, { name: "max_active", type: "number", min: "1" });
  const budget = input("Budget (USD)", k.budget_usd, { name: "budget_usd", type: "number", min: "0", step: "0.01" });
  const error = el("p", { class: "error-text", role: "alert", hidden: true });
  const row = el("tr", { class: "edit-row" });
  const form = el("form", { class: "params", onsubmit: async (ev) => {
    ev.preventDefault();
    const v = (name) => form.querySelector(`[name=${name}]`).value.trim();
    const changes = { models: v("models") ? v("models").split(/[\s,]+/) : null, rpm: num(v("rpm")),
      max_active: num(v("max_active")), budget_usd: num(v("budget_usd")) };
    try {
      const updated = await api.patch(`/v1/keys/${k.id}`, changes);
      tr.replaceWith(keyRow(updated));
      row.remove();
    } catch (e) { error.hidden = false; error.textContent = errorText(e); }
  } }, models, rpm, active, budget,
  el("button", { type: "submit", class: "primary", text: "Save" }),
  el("button", { type: "button", class: "ghost", text: "Cancel", onclick: () => row.remove() }), error);
  row.append(el("td", { colspan: "9" }, form));
  return row;
}

async function createKey(ev) {
  ev.preventDefault();
  const v = (id) => $(id).value.trim();
  const body = { user: v("#nk-user"), admin: $("#nk-admin").checked };
  if (v("#nk-name")) body.name = v("#nk-name");
  if (v("#nk-models")) body.models = v("#nk-models").split(/[\s,]+/);
  if (v("#nk-rpm")) body.rpm = Number(v("#nk-rpm"));
  if (v("#nk-active")) body.max_active = Number(v("#nk-active"));
  if (v("#nk-budget")) { body.budget_usd = Number(v("#nk-budget")); body.period = v("#nk-period"); }
  if (v("#nk-expires")) body.expires_at = v("#nk-expires");
  const error = $("#nk-error");
  try {
    const created = await api.post("/v1/keys", body);
    error.hidden = true;
    $("#nk-secret-value").textContent = created.key;
    $("#nk-secret").hidden = false;
    $("#key-create").reset();
    $("#keys-table tbody").prepend(keyRow(created));
    announce(`Key created for ${created.user}: copy it now, it is shown once.`);
  } catch (e) {
    error.hidden = false;
    error.textContent = errorText(e);
  }
}

// ---------------------------------------------------------------- leaderboard

const SVG = "http://www.w3.org/2000/svg";
const svg = (tag, attrs = {}, text) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};

async function loadLeaderboard() {
  const chart = $("#lb-chart");
  const body = $("#lb-table tbody");
  try {
    const lb = await api.get("/v1/leaderboard");
    $("#lb-summary").textContent = lb.votes
      ? `${fmt.num(lb.votes)} vote${lb.votes === 1 ? "" : "s"} over ${lb.models.length} models.`
      : "No votes yet: vote on a comparison and its models appear here.";
    body.replaceChildren(...lb.models.map((m) => el("tr", { "data-model": m.model },
      el("td", { text: String(m.rank) }), el("th", { scope: "row", text: m.model }),
      el("td", { class: "rating", text: m.rating.toFixed(0) }),
      el("td", { text: `${m.ci_low.toFixed(0)} – ${m.ci_high.toFixed(0)}` }),
      el("td", { text: m.elo.toFixed(0) }),
      el("td", { text: `${m.wins} / ${m.losses} / ${m.ties}` }),
      el("td", { class: "votes", text: fmt.num(m.votes) }),
      el("td", { text: fmt.ms(m.mean_ttft_ms) }),
      el("td", { text: fmt.usd(m.mean_cost_usd) }))));
    chart.replaceChildren(drawChart(lb.models));
  } catch (e) {
    $("#lb-summary").textContent = errorText(e);
    body.replaceChildren();
    chart.replaceChildren();
  }
}

function drawChart(models) {
  const rowH = 30;
  const left = 190;
  const right = 30;
  const width = 820;
  const height = Math.max(1, models.length) * rowH + 40;
  const s = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Ratings with 95% intervals" });
  if (!models.length) return s;
  let lo = Math.min(...models.map((m) => m.ci_low));
  let hi = Math.max(...models.map((m) => m.ci_high));
  if (hi - lo < 50) { lo -= 25; hi += 25; }
  const pad = (hi - lo) * 0.05;
  lo -= pad; hi += pad;
  const x = (v) => left + ((v - lo) / (hi - lo)) * (width - left - right);
  const step = niceStep((hi - lo) / 6);
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) {
    s.append(svg("line", { x1: x(t), x2: x(t), y1: 10, y2: height - 25, class: "axis", "stroke-dasharray": "2 4" }));
    s.append(svg("text", { x: x(t), y: height - 8, "text-anchor": "middle", class: "tick" }, String(Math.round(t))));
  }
  models.forEach((m, i) => {
    const y = 24 + i * rowH;
    const colour = `var(--m${i % 8})`;
    s.append(svg("text", { x: left - 10, y: y + 4, "text-anchor": "end" }, m.model));
    s.append(svg("line", { x1: x(m.ci_low), x2: x(m.ci_high), y1: y, y2: y, stroke: colour, "stroke-width": 3, "stroke-linecap": "round" }));
    const dot = svg("circle", { cx: x(m.rating), cy: y, r: 6, fill: colour });
    dot.append(svg("title", {}, `${m.model}: ${m.rating.toFixed(0)} (${m.ci_low.toFixed(0)}–${m.ci_high.toFixed(0)})`));
    s.append(dot);
  });
  return s;
}

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

// ---------------------------------------------------------------- key, theme, routing

const keyDialog = {
  open(msg) {
    const d = $("#key-dialog");
    $("#key-error").hidden = !msg;
    $("#key-error").textContent = msg || "";
    $("#key-button").hidden = false;
    if (!d.open) d.showModal();
    $("#key-input").focus();
  },
};

function setupKey() {
  $("#key-button").hidden = !api.key;
  $("#key-button").addEventListener("click", () => keyDialog.open(""));
  $("#key-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    api.key = $("#key-input").value.trim();
    localStorage.setItem(KEY_STORE, api.key);
    // Try it before closing the dialog.
    try {
      const resp = await fetch("/v1/models", { headers: api.headers() });
      if (resp.status === 401) { $("#key-error").hidden = false; $("#key-error").textContent = "That key was not accepted."; return; }
    } catch (e) {
      $("#key-error").hidden = false; $("#key-error").textContent = errorText(e); return;
    }
    $("#key-dialog").close();
    $("#key-input").value = "";
    await loadModels();
    route();
  });
  $("#key-forget").addEventListener("click", () => {
    api.key = "";
    localStorage.removeItem(KEY_STORE);
    $("#key-input").value = "";
  });
}

function setupTheme() {
  const saved = localStorage.getItem(THEME_STORE);
  const dark = saved ? saved === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  applyTheme(dark ? "dark" : "light");
  $("#theme-button").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem(THEME_STORE, next);
    applyTheme(next);
  });
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const b = $("#theme-button");
  b.textContent = theme === "dark" ? "Light" : "Dark";
  b.setAttribute("aria-label", `Switch to ${theme === "dark" ? "light" : "dark"} theme`);
}

let ignoreNextRoute = false;

function showView(name) {
  for (const v of ["compare", "history", "leaderboard", "keys"]) $(`#view-${v}`).hidden = v !== name;
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

function route() {
  if (ignoreNextRoute) { ignoreNextRoute = false; return; }
  notice("");
  const h = location.hash.replace(/^#/, "") || "/";
  const parts = h.split("/").filter(Boolean);
  if (parts[0] === "history") {
    showView("history");
    loadHistory("sessions", false);
    loadHistory("comparisons", false);
  } else if (parts[0] === "leaderboard") {
    showView("leaderboard");
    loadLeaderboard();
  } else if (parts[0] === "keys") {
    showView("keys");
    $("#nk-secret").hidden = true;
    loadKeys(false).catch((e) => notice(errorText(e)));
  } else if (parts[0] === "s" && parts[1]) {
    showView("compare");
    if (!(conv.kind === "session" && conv.id === parts[1])) openSession(parts[1]);
  } else if (parts[0] === "c" && parts[1]) {
    showView("compare");
    if (!(conv.kind === "comparison" && conv.id === parts[1])) openComparison(parts[1]);
  } else {
    showView("compare");
    conv.reset();
    document.title = "llm-compare";
  }
}

function submitOnCtrlEnter(textarea, form) {
  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
}

document.addEventListener("DOMContentLoaded", async () => {
  setupTheme();
  setupKey();
  $("#setup").addEventListener("submit", startComparison);
  $("#follow-up").addEventListener("submit", sendFollowUp);
  $("#new-button").addEventListener("click", () => { location.hash = "#/"; });
  $("#more-sessions").addEventListener("click", () => loadHistory("sessions", true));
  $("#more-comparisons").addEventListener("click", () => loadHistory("comparisons", true));
  $("#more-keys").addEventListener("click", () => loadKeys(true).catch((e) => notice(errorText(e))));
  $("#key-create").addEventListener("submit", createKey);
  $("#attach").addEventListener("change", async (e) => { await attach([...e.target.files]); e.target.value = ""; });
  $("#prompt").addEventListener("paste", (e) => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])];
    if (files.length) { e.preventDefault(); attach(files); }
  });
  $("#setup").addEventListener("dragover", (e) => { e.preventDefault(); });
  $("#setup").addEventListener("drop", (e) => {
    e.preventDefault();
    attach([...(e.dataTransfer ? e.dataTransfer.files : [])]);
  });
  $("#nk-copy").addEventListener("click", async () => {
    await navigator.clipboard.writeText($("#nk-secret-value").textContent);
    $("#nk-copy").textContent = "Copied";
  });
  submitOnCtrlEnter($("#prompt"), $("#setup"));
  submitOnCtrlEnter($("#follow-prompt"), $("#follow-up"));
  window.addEventListener("hashchange", route);
  await loadModels();
  route();
});
