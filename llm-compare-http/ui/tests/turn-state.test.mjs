// Unit tests of the UI's pure modules: a turn's events folded into its state, SSE framing,
// formatting. Run by scripts/ui-test (node --test), no browser.
import assert from "node:assert/strict";
import { test } from "node:test";

import { applyEvent, applySnapshot, costEstimate, createTurn, liveTiming, stageOf, votable } from "../turn-state.js";
import { SseFramer, parseSse } from "../sse.js";
import { fmt, limitsText, needs, niceStep, prettyJson } from "../format.js";

const usage = { input_tokens: 3, output_tokens: 2, cached_input_tokens: 0, reasoning_tokens: 0, source: "reported" };
/** A model_result as the server sends it. */
const result = (model_index, text, extra = {}) => ({
  model_index, model: `sim/m${model_index}`, text, finish_reason: "stop", usage,
  cost: { priced: true, total_usd: 0.001, source: "price_table" },
  timing: { ttft_ms: 12, total_ms: 40, tokens_per_s: 50 }, ...extra,
});

test("a stream of events folds into each column's text, stage and result", () => {
  const s = createTurn(["sim/a", "sim/b"]);
  assert.equal(s.status, "pending");
  assert.deepEqual(applyEvent(s, { seq: 1, type: "status", status: "running" }, 0), { cols: [], status: true, done: false });
  applyEvent(s, { seq: 2, type: "stage", model_index: 0, model: "sim/a", stage: "connecting" }, 100);
  const c = applyEvent(s, { seq: 3, type: "response_chunk", model_index: 0, model: "sim/a", delta: "Hel" }, 150);
  assert.deepEqual(c.cols, [0]);
  applyEvent(s, { seq: 4, type: "response_chunk", model_index: 0, model: "sim/a", delta: "lo" }, 650);
  applyEvent(s, { seq: 5, type: "reasoning_chunk", model_index: 1, model: "sim/b", delta: "hmm" }, 700);
  applyEvent(s, { seq: 6, type: "tool_call", model_index: 1, model: "sim/b", id: "c1", name: "f", arguments: "{}" }, 700);
  assert.equal(s.cols[0].text, "Hello");
  assert.equal(s.cols[0].chunks, 2);
  assert.deepEqual(liveTiming(s.cols[0]), { ttftMs: 50, tokensPerS: 2 });
  assert.equal(s.cols[1].reasoning, "hmm");
  assert.deepEqual(s.cols[1].tools, [{ id: "c1", name: "f", arguments: "{}" }]);

  applyEvent(s, { seq: 7, type: "error", model_index: 1, model: "sim/b", code: "timeout", message: "slow", retryable: true }, 800);
  assert.equal(s.cols[1].error.code, "timeout");
  applyEvent(s, { seq: 8, type: "model_result", ...result(0, "Hello!") }, 900);
  assert.equal(s.cols[0].text, "Hello!");
  assert.equal(s.cols[0].stage, "done");
  // `complete` fills what a model_result did not bring, and ends the turn.
  const done = applyEvent(s, {
    seq: 9, type: "complete", request_id: "r", status: "completed", duration_ms: 1000,
    totals: { cost_usd: 0.002 },
    results: [result(0, "ignored: already final"), result(1, "", { error: { code: "timeout", message: "slow", retryable: true }, finish_reason: "error" })],
  }, 1000);
  assert.equal(done.done, true);
  assert.deepEqual(done.cols, [1]);
  assert.equal(s.cols[0].text, "Hello!");
  assert.equal(s.cols[1].stage, "failed");
  assert.equal(s.finished, true);
  assert.equal(s.status, "completed");
  assert.equal(votable(s.cols[0]), true);
  assert.equal(votable(s.cols[1]), false, "a model that failed without a word cannot win");
});

test("request-wide errors become the turn's notice until the next status", () => {
  const s = createTurn(["sim/a"]);
  applyEvent(s, { seq: 1, type: "error", code: "shutting_down", message: "bye", retryable: true }, 0);
  assert.match(s.notice, /restarting/);
  applyEvent(s, { seq: 2, type: "status", status: "running" }, 0);
  assert.equal(s.notice, null);
  // Events for a column that does not exist change nothing.
  assert.deepEqual(applyEvent(s, { seq: 3, type: "response_chunk", model_index: 5, model: "x", delta: "?" }, 0).cols, []);
});

test("a snapshot rebuilds a finished turn, cancelled results are not failures", () => {
  const s = createTurn(["Model A", "Model B"], true);
  applySnapshot(s, {
    request_id: "r", status: "cancelled", created_at_ms: 0, last_seq: 9, blind: false,
    models: [
      { model_index: 0, model: "sim/a", stage: "done", text: "Hi", result: result(0, "Hi") },
      { model_index: 1, model: "sim/b", stage: "cancelled", text: "part", result: result(1, "part", { finish_reason: "cancelled" }) },
    ],
  });
  assert.equal(s.finished, true);
  assert.equal(s.blind, false);
  assert.equal(s.cols[0].model, "sim/a");
  assert.equal(s.cols[1].stage, "cancelled");
  assert.equal(stageOf(result(0, "", { error: { code: "cancelled", message: "", retryable: false } })), "cancelled");
});

test("cost estimates need both prices", () => {
  assert.equal(costEstimate("abcd", 10, { input_usd_per_million: 1, output_usd_per_million: 2 }), (1 + 20) / 1e6);
  assert.equal(costEstimate("abcd", 10, { input_usd_per_million: 1, output_usd_per_million: null }), null);
  assert.equal(costEstimate("abcd", 10, undefined), null);
});

test("SSE framing works for any chunking, CRLF split or not", () => {
  const text = "id: 1\r\ndata: {\"a\":1}\r\n\r\n: keep-alive\n\nid: 2\ndata: {\"b\":\ndata: 2}\n\n";
  for (let cut = 0; cut <= text.length; cut++) {
    const f = new SseFramer();
    const blocks = [...f.push(text.slice(0, cut)), ...f.push(text.slice(cut))];
    const events = blocks.map(parseSse).filter(Boolean);
    assert.deepEqual(events, [{ id: "1", data: { a: 1 } }, { id: "2", data: { b: 2 } }], `cut at ${cut}`);
  }
  assert.equal(parseSse("data: not json"), null);
});

test("formatting", () => {
  assert.equal(fmt.ms(999), "999 ms");
  assert.equal(fmt.ms(1500), "1.50 s");
  assert.equal(fmt.usd(0), "$0");
  assert.equal(fmt.usd(0.00001), "$1.0e-5");
  assert.equal(fmt.usd(0.5), "$0.5000");
  assert.equal(prettyJson('{"a":1}'), '{\n  "a": 1\n}');
  assert.equal(prettyJson("nope"), null);
  assert.equal(niceStep(37), 50);
  assert.equal(limitsText({ rpm: 60, max_active: 2 }), "60/min · 2 at once");
  assert.equal(limitsText({}), "none");
  assert.equal(limitsText({ tools: [] }), "no tools");
  assert.equal(limitsText({ tools: ["search", "fetch_*"], rpm: 5 }), "tools search fetch_* · 5/min");
  assert.equal(needs({ type: "image", media_type: "image/png" }), "vision");
  assert.equal(needs({ type: "file", media_type: "application/pdf" }), "pdf");
  assert.equal(needs({ type: "file", media_type: "text/plain" }), null);
});

test("a tool loop's steps and results fold into the column", () => {
  const s = createTurn(["sim/agent"]);
  applyEvent(s, { seq: 1, type: "tool_call", model_index: 0, model: "sim/agent", id: "c1", name: "square", arguments: '{"x":7}' }, 0);
  applyEvent(s, { seq: 2, type: "step", model_index: 0, model: "sim/agent", step: 1, usage }, 0);
  const c = applyEvent(s, {
    seq: 3, type: "tool_result", model_index: 0, model: "sim/agent", call_id: "c1", name: "square",
    content: [{ type: "text", text: "49" }, { type: "image", media_type: "image/png", data: "x" }], is_error: false, duration_ms: 3,
  }, 0);
  assert.deepEqual(c.cols, [0]);
  assert.equal(s.cols[0].steps, 1);
  assert.deepEqual(s.cols[0].results, [{ callId: "c1", name: "square", text: "49\n[image]", isError: false, durationMs: 3 }]);
  applyEvent(s, { seq: 4, type: "model_result", ...result(0, "`square` returned: 49", { steps: 2, tool_calls: [{ id: "c1", name: "square", arguments: '{"x":7}' }] }) }, 0);
  assert.equal(s.cols[0].steps, 2);
  assert.equal(s.cols[0].tools.length, 1);
});

test("a client-side tool's call waits for the client until its result comes", () => {
  const s = createTurn(["sim/agent"]);
  applyEvent(s, { seq: 1, type: "tool_call", model_index: 0, model: "sim/agent", id: "c1", name: "lookup", arguments: '{"word":"tea"}' }, 0);
  const c = applyEvent(s, { seq: 2, type: "action", model_index: 0, model: "sim/agent", call_id: "c1", name: "lookup", arguments: { word: "tea" }, timeout_ms: 30000 }, 0);
  assert.deepEqual(c.cols, [0]);
  assert.deepEqual(s.cols[0].waiting, ["c1"]);
  applyEvent(s, { seq: 3, type: "tool_result", model_index: 0, model: "sim/agent", call_id: "c1", name: "lookup", content: "a drink", is_error: false, duration_ms: 5 }, 0);
  assert.deepEqual(s.cols[0].waiting, []);
  assert.equal(s.cols[0].results[0].text, "a drink");
});

test("a finished agent turn drawn from its snapshot shows each step's calls and results", () => {
  const s = createTurn(["sim/agent"]);
  const calls = [{ id: "c1", name: "get_weather", arguments: '{"city":"Paris"}' }];
  applySnapshot(s, {
    request_id: "r", status: "completed", created_at_ms: 0, last_seq: 9, blind: false,
    models: [{
      model_index: 0, model: "sim/agent", stage: "done", text: "done",
      result: result(0, "`get_weather` returned: 21 °C", {
        steps: 2, exchange: [{ calls, results: [{ call_id: "c1", content: [{ type: "text", text: "21 °C" }], is_error: true }] }],
      }),
    }],
  });
  assert.deepEqual(s.cols[0].tools, calls);
  assert.deepEqual(s.cols[0].results, [{ callId: "c1", name: "get_weather", text: "21 °C", isError: true, durationMs: null }]);
  assert.equal(s.cols[0].steps, 2);
});
