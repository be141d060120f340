// @ts-check
// One comparison's state, folded from its events: pure (no DOM, no clock, no network), so
// what a turn shows is unit-tested (ui/tests/turn-state.test.mjs) and the view only paints.

/** @typedef {import("../../bindings/node/types").Event} ApiEvent */
/** @typedef {import("../../bindings/node/types").ModelResult} ModelResult */
/** @typedef {import("../../bindings/node/types").Snapshot} Snapshot */
/** @typedef {import("../../bindings/node/types").RequestStatus} RequestStatus */
/** @typedef {import("../../bindings/node/types").Stage} Stage */
/** @typedef {import("../../bindings/node/types").ToolCall} ToolCall */
/** @typedef {import("../../bindings/node/types").ErrorInfo} ErrorInfo */
/** @typedef {import("../../bindings/node/types").Totals} Totals */
/**
 * A tool's result in a model's loop.
 * @typedef {{ callId: string, name: string, text: string, isError: boolean, durationMs: number | null }} ToolOutcome
 */

/**
 * One model's column.
 * @typedef {{
 *   index: number, model: string, text: string, reasoning: string, tools: ToolCall[],
 *   stage: Stage, error: ErrorInfo | null, result: ModelResult | null, chunks: number,
 *   startedAt: number | null, firstAt: number | null, lastAt: number | null,
 *   results: ToolOutcome[], steps: number, waiting: string[],
 * }} Column
 */

/**
 * A turn: its status and columns.
 * @typedef {{
 *   status: RequestStatus, finished: boolean, blind: boolean, cols: Column[],
 *   notice: string | null, totals: Totals | null, durationMs: number | null,
 * }} TurnState
 */

/**
 * What applying one event changed.
 * @typedef {{ cols: number[], status: boolean, done: boolean }} Change
 */

/**
 * A turn of `models` that has not started.
 * @param {string[]} models
 * @param {boolean} [blind]
 * @returns {TurnState}
 */
export function createTurn(models, blind = false) {
  return {
    status: "pending", finished: false, blind, notice: null, totals: null, durationMs: null,
    cols: models.map((model, index) => ({
      index, model, text: "", reasoning: "", tools: [], stage: "queued", error: null,
      result: null, chunks: 0, startedAt: null, firstAt: null, lastAt: null, results: [], steps: 0, waiting: [],
    })),
  };
}

/**
 * A result's stage: cancelled, failed or done.
 * @param {ModelResult} r
 * @returns {Stage}
 */
export function stageOf(r) {
  const cancelled = r.finish_reason === "cancelled" || (r.error && r.error.code === "cancelled");
  return cancelled ? "cancelled" : r.error ? "failed" : "done";
}

/**
 * Sets column `c`'s final result.
 * @param {Column} c
 * @param {ModelResult} r
 */
export function setResult(c, r) {
  c.result = r;
  c.text = r.text;
  c.stage = stageOf(r);
  if (r.error) c.error = r.error;
  if (r.reasoning) c.reasoning = r.reasoning;
  if (r.exchange && r.exchange.length && !c.results.length) {
    // Drawn from a snapshot (no live tool events seen): the stored exchange has each
    // step's calls and results; how long a call took is not stored.
    const calls = r.exchange.flatMap((s) => s.calls);
    c.tools = calls;
    c.results = r.exchange.flatMap((s) => s.results).map((x) => ({
      callId: x.call_id, name: calls.find((t) => t.id === x.call_id)?.name ?? "",
      text: contentText(x.content), isError: !!x.is_error, durationMs: null,
    }));
  }
  if (r.tool_calls && r.tool_calls.length) c.tools = c.tools.concat(r.tool_calls.filter((t) => !c.tools.some((x) => x.id === t.id)));
  if (r.steps) c.steps = r.steps;
}

/**
 * A message content's text (its text parts, for content with images).
 * @param {import("../../bindings/node/types").Content} content
 */
export function contentText(content) {
  if (typeof content === "string") return content;
  return content.map((p) => (p.type === "text" ? p.text : `[${p.type}]`)).join("\n");
}

/**
 * Folds `e` into `state`; `now` (ms, any clock) times the first and last chunks.
 * @param {TurnState} state
 * @param {ApiEvent} e
 * @param {number} now
 * @returns {Change}
 */
export function applyEvent(state, e, now) {
  /** @type {Change} */
  const change = { cols: [], status: false, done: false };
  const col = "model_index" in e && typeof e.model_index === "number" ? state.cols[e.model_index] : undefined;
  const touch = () => { if (col) change.cols.push(col.index); };
  switch (e.type) {
    case "status":
      state.status = e.status;
      state.notice = null;
      change.status = true;
      break;
    case "stage":
      if (!col) break;
      col.stage = e.stage;
      if (e.stage === "connecting") col.startedAt = now;
      touch();
      break;
    case "response_chunk":
      if (!col) break;
      if (col.firstAt == null) col.firstAt = now;
      col.lastAt = now;
      col.text += e.delta;
      col.chunks += 1;
      touch();
      break;
    case "reasoning_chunk":
      if (!col) break;
      col.reasoning += e.delta;
      touch();
      break;
    case "tool_call":
      if (!col) break;
      col.tools.push({ id: e.id, name: e.name, arguments: e.arguments });
      touch();
      break;
    case "step":
      if (!col) break;
      col.steps = e.step;
      touch();
      break;
    case "action":
      // A client-side tool's call: the client answers it (POST …/tool_results).
      if (!col) break;
      col.waiting.push(e.call_id);
      touch();
      break;
    case "tool_result":
      if (!col) break;
      col.waiting = col.waiting.filter((id) => id !== e.call_id);
      col.results.push({ callId: e.call_id, name: e.name, text: contentText(e.content), isError: e.is_error, durationMs: e.duration_ms });
      touch();
      break;
    case "error":
      if (col) {
        col.error = { code: e.code, message: e.message, retryable: e.retryable };
        touch();
      } else {
        state.notice = e.code === "shutting_down"
          ? "The server is restarting — reconnecting…"
          : `Error: ${e.message}`;
        change.status = true;
      }
      break;
    case "model_result":
      if (!col) break;
      setResult(col, e);
      touch();
      break;
    case "complete":
      for (const r of e.results) {
        const c = state.cols[r.model_index];
        if (c && !c.result) { setResult(c, r); change.cols.push(c.index); }
      }
      state.status = e.status;
      state.totals = e.totals;
      state.durationMs = e.duration_ms;
      state.finished = true;
      change.status = true;
      change.done = true;
      break;
    default:
      break;
  }
  return change;
}

/**
 * Rebuilds `state` from a stored snapshot.
 * @param {TurnState} state
 * @param {Snapshot} snap
 */
export function applySnapshot(state, snap) {
  state.blind = !!snap.blind;
  for (const m of snap.models) {
    const c = state.cols[m.model_index];
    if (!c) continue;
    c.model = m.model;
    c.text = m.text;
    c.stage = m.stage;
    if (m.result) setResult(c, m.result);
  }
  state.status = snap.status;
  state.totals = snap.totals ?? null;
  state.durationMs = snap.duration_ms ?? null;
  state.finished = !["pending", "running"].includes(snap.status);
}

/**
 * While a column streams: its time to first token and tokens per second as seen here
 * (one chunk ≈ one token), when the turn started on this page.
 * @param {Column} c
 * @returns {{ ttftMs: number | null, tokensPerS: number | null }}
 */
export function liveTiming(c) {
  const ttftMs = c.startedAt != null && c.firstAt != null ? c.firstAt - c.startedAt : null;
  const span = c.firstAt != null && c.lastAt != null ? (c.lastAt - c.firstAt) / 1000 : 0;
  const tokensPerS = span > 0.2 && c.chunks > 1 ? (c.chunks - 1) / span : null;
  return { ttftMs, tokensPerS };
}

/**
 * A running cost estimate in USD: the prompt at ~4 characters a token, each chunk a token.
 * @param {string} prompt
 * @param {number} chunks
 * @param {{ input_usd_per_million?: number | null, output_usd_per_million?: number | null } | undefined} price
 * @returns {number | null}
 */
export function costEstimate(prompt, chunks, price) {
  if (!price || price.output_usd_per_million == null || price.input_usd_per_million == null) return null;
  return ((prompt.length / 4) * price.input_usd_per_million + chunks * price.output_usd_per_million) / 1e6;
}

/**
 * Whether a column's answer can win a vote (a model that failed without a word cannot).
 * @param {Column} c
 */
export function votable(c) {
  return !(c.result && c.result.error && !c.text);
}
