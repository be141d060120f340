// @ts-check
// One comparison on the page: a row of columns, one per model, painted from the turn state
// (turn-state.js) that its event stream folds.

import { api, errorText } from "./api.js";
import { LETTERS, announce, el, notice } from "./dom.js";
import { COST_SOURCES, fmt, prettyJson } from "./format.js";
import { renderMarkdown } from "./markdown.js";
import { EventStream } from "./sse.js";
import { applyEvent, applySnapshot, costEstimate, createTurn, liveTiming, votable } from "./turn-state.js";

/** @typedef {import("./turn-state.js").Column} Column */
/** @typedef {import("../../bindings/node/types").Snapshot} Snapshot */
/** @typedef {import("../../bindings/node/types").VoteBody} VoteBody */
/** @typedef {{ type: string, media_type?: string, data?: string, url?: string, name?: string, sha256?: string }} AttachmentLike */

/** Words for each status. @type {Record<string, string>} */
const STATUS_WORDS = {
  pending: "Starting…", running: "Streaming…", completed: "Completed", failed: "Every model failed",
  cancelled: "Stopped", interrupted: "Interrupted (the server stopped)",
};

/**
 * What each column's elements are.
 * @typedef {{ el: any, nameEl: any, stageEl: any, bodyEl: any, reasoningEl: any, toolsEl: any,
 *   jsonEl: any, errorEl: any, badges: Record<"ttft" | "tps" | "tokens" | "cost", any>,
 *   dirty: boolean, pending: boolean }} ColumnView
 */

export class Turn {
  /**
   * @param {{ id: string, models: string[], prompt?: string, blind?: boolean, live?: boolean,
   *   attachments?: AttachmentLike[], catalogue?: Map<string, any>, onDone?: (t: Turn) => void }} opts
   */
  constructor({ id, models, prompt, blind, live, attachments, catalogue, onDone }) {
    this.id = id;
    this.prompt = prompt || "";
    this.live = !!live; // started on this page: client-side timings are meaningful
    this.catalogue = catalogue || new Map();
    this.onDone = onDone;
    this.state = createTurn(models, !!blind);
    /** @type {VoteBody | null} */
    this.preference = null;
    /** @type {EventStream | null} */
    this.es = null;
    this.done = false;
    /** @type {ColumnView[]} */
    this.views = [];
    this.build(attachments || []);
  }

  get finished() { return this.done; }

  /** @param {AttachmentLike[]} attachments */
  build(attachments) {
    const root = el("article", { class: "turn", "data-request-id": this.id, "aria-label": "Comparison" });
    if (this.prompt) root.append(el("div", { class: "turn-prompt", text: this.prompt }));
    if (attachments.length) root.append(this.attachmentsEl(attachments));
    this.statusEl = el("span", { class: "turn-status", role: "status", text: "Starting…" });
    this.stopBtn = el("button", { type: "button", class: "danger stop", text: "Stop", onclick: () => this.stop() });
    root.append(el("div", { class: "turn-bar" }, this.stopBtn, this.statusEl));
    const grid = el("div", { class: "columns" });
    grid.style.setProperty("--cols", String(Math.min(this.state.cols.length, 4)));
    for (const c of this.state.cols) grid.append(this.columnEl(c));
    root.append(grid);
    this.voteEl = el("div", { class: "vote", hidden: true });
    root.append(this.voteEl);
    this.root = root;
  }

  /**
   * Thumbnails of the prompt's images (bytes given here, or fetched from the store) and
   * chips for its files.
   * @param {AttachmentLike[]} attachments
   */
  attachmentsEl(attachments) {
    const box = el("div", { class: "turn-attachments attachments" });
    attachments.forEach((a, i) => {
      const label = a.name || a.media_type || a.type;
      if (a.type !== "image") { box.append(el("span", { class: "file-chip", text: label })); return; }
      const img = el("img", { class: "thumb", alt: a.name || "attached image" });
      if (a.data) img.src = `data:${a.media_type};base64,${a.data}`;
      else if (a.url && a.url.startsWith("data:")) img.src = a.url;
      else if (a.sha256) api.attachmentUrl(this.id, i).then((u) => { img.src = u; }).catch(() => { img.alt = "image (not available)"; });
      else if (a.url) img.alt = `image at ${a.url}`;
      box.append(img);
    });
    return box;
  }

  /** @param {Column} c */
  columnEl(c) {
    const badge = (/** @type {string} */ label, /** @type {any} */ b, /** @type {string} */ cls) =>
      el("span", { class: "badge " + cls, title: label }, label + " ", b);
    /** @type {ColumnView} */
    const v = {
      nameEl: el("span", { class: "col-name", text: c.model }),
      stageEl: el("span", { class: "stage", "data-stage": c.stage, text: c.stage }),
      badges: { ttft: el("b", { text: "—" }), tps: el("b", { text: "—" }), tokens: el("b", { text: "—" }), cost: el("b", { text: "—" }) },
      reasoningEl: el("details", { class: "reasoning", hidden: true }, el("summary", { text: "Reasoning" }), el("div")),
      bodyEl: el("div", { class: "col-body", "data-empty": "true" }),
      toolsEl: el("div", { class: "tool-calls", hidden: true }),
      jsonEl: el("div", { class: "json-result", hidden: true }),
      errorEl: el("div", { class: "col-error", role: "alert", hidden: true }),
      el: null, dirty: false, pending: false,
    };
    v.el = el("section", { class: "col", "data-index": String(c.index), "aria-label": `${LETTERS[c.index]}: ${c.model}` },
      el("div", { class: "col-head" }, el("span", { class: "letter", "aria-hidden": "true", text: LETTERS[c.index] }), v.nameEl, v.stageEl),
      el("div", { class: "badges" },
        badge("TTFT", v.badges.ttft, "b-ttft"), badge("tok/s", v.badges.tps, "b-tps"),
        badge("tokens", v.badges.tokens, "b-tokens"), badge("cost", v.badges.cost, "b-cost")),
      v.reasoningEl, v.bodyEl, v.toolsEl, v.jsonEl, v.errorEl);
    // Through CSSOM: the CSP forbids style attributes.
    v.el.style.setProperty("--mc", `var(--m${c.index % 8})`);
    this.views[c.index] = v;
    return v.el;
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
      this.fromSnapshot(await api.get(`/v1/comparisons/${this.id}`));
    } catch (e) {
      this.statusEl.textContent = errorText(e);
    }
  }

  /** @param {Snapshot} snap */
  fromSnapshot(snap) {
    applySnapshot(this.state, snap);
    this.preference = snap.preference || null;
    for (const c of this.state.cols) this.paint(c.index, true);
    this.showStatus();
    if (this.state.finished) this.finish(); else this.stream();
  }

  /**
   * Folds one event in and repaints what it changed; true once `complete` came.
   * @param {any} e
   */
  apply(e) {
    const change = applyEvent(this.state, e, performance.now());
    for (const i of change.cols) {
      if (e.type === "model_result" || e.type === "complete" || e.type === "error") this.paint(i, true);
      else this.schedule(i);
    }
    if (change.status) this.showStatus();
    if (change.done) { this.finish(); return true; }
    return false;
  }

  showStatus() {
    const s = this.state;
    this.root.dataset.status = s.status;
    this.statusEl.textContent = s.notice && !s.finished ? s.notice : STATUS_WORDS[s.status] || s.status;
  }

  // Repaints at most once per frame per column: fast streams stay smooth.
  /** @param {number} i */
  schedule(i) {
    const v = this.views[i];
    v.dirty = true;
    if (v.pending) return;
    v.pending = true;
    requestAnimationFrame(() => { v.pending = false; this.paint(i, false); });
  }

  /**
   * @param {number} i
   * @param {boolean} force
   */
  paint(i, force) {
    const c = this.state.cols[i];
    const v = this.views[i];
    if (!force && !v.dirty) return;
    v.dirty = false;
    v.nameEl.textContent = c.result && c.result.served_by ? `${c.model} (served by ${c.result.served_by})` : c.model;
    v.stageEl.textContent = c.stage;
    v.stageEl.dataset.stage = c.stage;
    const structured = c.result && c.result.structured;
    const pretty = structured ? prettyJson(c.text) : null;
    if (pretty !== null) {
      // A structured answer: the JSON pretty-printed, under a valid / invalid badge.
      v.bodyEl.replaceChildren(el("pre", {}, el("code", { class: "language-json", text: pretty })));
    } else {
      const html = renderMarkdown(c.text);
      if (html === null) v.bodyEl.textContent = c.text; else v.bodyEl.innerHTML = html;
    }
    if (structured) {
      const errors = structured.errors || [];
      v.jsonEl.hidden = false;
      v.jsonEl.replaceChildren(
        el("span", { class: "badge " + (structured.valid ? "json-valid" : "json-invalid"),
          text: structured.valid ? "JSON ✓ valid" : `JSON ✗ invalid (${errors.length})` }),
        ...errors.map((e) => el("div", { class: "json-error", text: `${e.path || "/"}: ${e.message}` })));
    }
    v.bodyEl.dataset.empty = c.text || c.result ? "false" : "true";
    v.bodyEl.classList.toggle("caret", !c.result && c.text.length > 0);
    if (c.reasoning) {
      v.reasoningEl.hidden = false;
      v.reasoningEl.lastChild.textContent = c.reasoning;
    }
    if (c.tools.length || c.results.length) {
      // Each call with its result (a tool loop), collapsible.
      v.toolsEl.hidden = false;
      v.toolsEl.replaceChildren(...c.tools.map((t) => {
        const r = c.results.find((x) => x.callId === t.id);
        const call = el("summary", {}, el("code", { text: `${t.name}(${t.arguments})` }));
        if (!r) {
          return el("details", { class: "tool-call", open: true }, call,
            ...(c.waiting.includes(t.id) ? [el("span", { class: "hint", text: "waiting for the client's result" })] : []));
        }
        return el("details", { class: "tool-call" + (r.isError ? " tool-error" : ""), open: true }, call,
          el("pre", { class: "tool-result", text: `→ ${r.text}` }),
          el("span", { class: "hint", text: `${r.isError ? "error · " : ""}${fmt.ms(r.durationMs)}` }));
      }));
    }
    if (c.steps) v.stageEl.textContent = `${c.stage} · step ${c.result ? c.steps : c.steps + 1}`;
    // Stopping is not a failure: the stage says "cancelled".
    if (c.error && c.error.code !== "cancelled") {
      v.errorEl.hidden = false;
      v.errorEl.textContent = `${c.error.code}: ${c.error.message}` + (c.error.retryable ? " (retryable)" : "");
      v.el.dataset.error = c.error.code;
    }
    this.badges(c, v);
  }

  /**
   * @param {Column} c
   * @param {ColumnView} v
   */
  badges(c, v) {
    const b = v.badges;
    const r = c.result;
    if (r) {
      b.ttft.textContent = fmt.ms(r.timing.ttft_ms);
      b.tps.textContent = r.timing.tokens_per_s == null ? "—" : r.timing.tokens_per_s.toFixed(1);
      b.tokens.textContent = `${fmt.num(r.usage.input_tokens)} → ${fmt.num(r.usage.output_tokens)}`;
      b.cost.textContent = r.cost.priced ? fmt.usd(r.cost.total_usd) : "unpriced";
      // Where the figure came from, on hover.
      b.cost.title = r.cost.priced ? (/** @type {Record<string, string>} */ (COST_SOURCES)[r.cost.source] || "") : "not in the price table";
      v.el.dataset.final = "true";
      return;
    }
    // While streaming: estimates, marked with "~" (one chunk is about one token).
    b.tokens.textContent = "~" + c.chunks;
    if (this.live) {
      const t = liveTiming(c);
      if (t.ttftMs != null) b.ttft.textContent = "~" + fmt.ms(t.ttftMs);
      if (t.tokensPerS != null) b.tps.textContent = "~" + t.tokensPerS.toFixed(1);
    }
    const est = costEstimate(this.prompt, c.chunks, this.catalogue.get(c.model));
    if (est != null) b.cost.textContent = "~" + fmt.usd(est);
  }

  async stop() {
    this.stopBtn.disabled = true;
    try {
      await api.del(`/v1/comparisons/${this.id}`);
      if (!this.done) this.statusEl.textContent = "Stopping…";
    } catch (e) {
      this.stopBtn.disabled = false;
      notice(errorText(e));
    }
  }

  finish() {
    if (this.done) return;
    this.done = true;
    this.stopBtn.hidden = true;
    for (const c of this.state.cols) this.paint(c.index, true);
    this.root.dataset.finished = "true";
    announce(`Comparison ${this.statusEl.textContent.toLowerCase()}.`);
    this.renderVote();
    if (this.onDone) this.onDone(this);
  }

  renderVote() {
    const cols = this.state.cols;
    this.voteEl.hidden = false;
    if (this.preference) {
      const w = this.preference.winner;
      const what = typeof w === "number" ? `${LETTERS[w]} (${cols[w].model}) is better`
        : w === "tie" ? "tie" : "all bad";
      this.voteEl.replaceChildren(el("span", { class: "vote-done", text: `You voted: ${what}.` }));
      return;
    }
    if (!cols.some((c) => c.result && !c.result.error)) {
      this.voteEl.hidden = true;
      return;
    }
    const feedback = el("input", { type: "text", class: "feedback", "aria-label": "Feedback (optional)", placeholder: "Why? (optional)", maxlength: "2000" });
    const choose = (/** @type {VoteBody["winner"]} */ winner) => this.vote(winner, feedback.value.trim());
    const buttons = cols.map((c) => el("button", {
      type: "button", class: "vote-model", "data-winner": String(c.index),
      text: `${LETTERS[c.index]} is better`, onclick: () => choose(c.index), disabled: !votable(c),
    }));
    if (cols.length > 1) {
      buttons.push(el("button", { type: "button", class: "vote-tie", text: "Tie", onclick: () => choose("tie") }));
    }
    buttons.push(el("button", { type: "button", class: "vote-bad", text: "All bad", onclick: () => choose("all_bad") }));
    this.voteEl.replaceChildren(
      el("div", { class: "hint", text: this.state.blind ? "Which answer is better? Names are revealed after you vote." : "Which answer is better?" }),
      el("div", { class: "vote-buttons", role: "group", "aria-label": "Vote" }, ...buttons),
      feedback);
  }

  /**
   * @param {VoteBody["winner"]} winner
   * @param {string} feedback
   */
  async vote(winner, feedback) {
    for (const b of this.voteEl.querySelectorAll("button")) b.disabled = true;
    try {
      /** @type {VoteBody} */
      const body = { winner };
      if (feedback) body.feedback = feedback;
      await api.post(`/v1/comparisons/${this.id}/preference`, body);
      this.preference = body;
      if (this.state.blind) {
        // Revealed now: the snapshot names the models.
        /** @type {Snapshot} */
        const snap = await api.get(`/v1/comparisons/${this.id}`);
        for (const m of snap.models) {
          const c = this.state.cols[m.model_index];
          if (!c) continue;
          c.model = m.model;
          this.paint(c.index, true);
          this.views[c.index].el.setAttribute("aria-label", `${LETTERS[c.index]}: ${m.model}`);
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

