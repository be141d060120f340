// The Anthropic door (`/v1/messages`) with real clients from npm (issue 47), against a
// running `llm-compare serve` on the simulated models: the official `@anthropic-ai/sdk`
// (a message, a stream, tool use and its result, each error as the SDK's own class, an error
// mid-stream, token counting) and the Vercel AI SDK's `@ai-sdk/anthropic` (`streamText`).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { createAnthropic } from "@ai-sdk/anthropic";
import { streamText } from "ai";
import { startClientServer } from "./harness.mjs";

let server;
let admin, echoOnly, oncePerMinute;

before(async () => {
  ({ server, admin, echoOnly, oncePerMinute } = await startClientServer());
});

after(async () => {
  await server?.stop();
});

/** The official SDK, as a user points it at llm-compare (no retries: each error is seen). */
const sdk = (apiKey) => new Anthropic({ baseURL: server.url, apiKey, maxRetries: 0 });

const tools = [{
  name: "lookup",
  description: "Looks a word up.",
  input_schema: { type: "object", properties: { q: { type: "string" } }, required: ["q"] },
}];

test("@anthropic-ai/sdk: a message, whole and streamed", async () => {
  const client = sdk(admin);
  const message = await client.messages.create({
    model: "sim/echo",
    max_tokens: 64,
    system: "Be brief.",
    messages: [{ role: "user", content: "a b c" }],
  });
  assert.equal(message.type, "message");
  assert.deepEqual(message.content, [{ type: "text", text: "a b c" }]);
  assert.equal(message.stop_reason, "end_turn");
  assert.equal(message.usage.output_tokens, 3);

  const stream = client.messages.stream({
    model: "sim/echo",
    max_tokens: 64,
    messages: [{ role: "user", content: "one two three four" }],
  });
  let text = "";
  stream.on("text", (delta) => { text += delta; });
  const final = await stream.finalMessage();
  assert.equal(text, "one two three four");
  assert.equal(final.content[0].text, "one two three four");
  assert.equal(final.stop_reason, "end_turn");
  assert.equal(final.usage.output_tokens, 4);
});

test("@anthropic-ai/sdk: tool use, then the tool's result read by the model", async () => {
  const client = sdk(admin);
  const first = await client.messages.create({
    model: "sim/agent",
    max_tokens: 64,
    tools,
    messages: [{ role: "user", content: "find x" }],
  });
  assert.equal(first.stop_reason, "tool_use");
  const use = first.content.find((b) => b.type === "tool_use");
  assert.equal(use.name, "lookup");
  assert.equal(typeof use.input, "object");

  const streamed = await client.messages.stream({
    model: "sim/agent",
    max_tokens: 64,
    tools,
    messages: [{ role: "user", content: "find x" }],
  }).finalMessage();
  const streamedUse = streamed.content.find((b) => b.type === "tool_use");
  assert.equal(streamedUse.name, "lookup");
  assert.deepEqual(streamedUse.input, use.input, "input_json_delta assembled by the SDK");

  const second = await client.messages.create({
    model: "sim/agent",
    max_tokens: 64,
    tools,
    messages: [
      { role: "user", content: "find x" },
      { role: "assistant", content: first.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "42" }] },
    ],
  });
  assert.match(second.content[0].text, /42/);
});

test("@anthropic-ai/sdk: each error as the SDK's class; a failure mid-stream raises", async () => {
  const expectError = async (promise, cls, status) => {
    await assert.rejects(promise, (e) => {
      assert.ok(e instanceof cls, `${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.status, status);
      return true;
    });
  };
  const body = { model: "sim/echo", max_tokens: 9, messages: [{ role: "user", content: "x" }] };
  await expectError(sdk(admin).messages.create({ ...body, model: "nope/x" }), Anthropic.BadRequestError, 400);
  await expectError(sdk("wrong").messages.create(body), Anthropic.AuthenticationError, 401);
  await expectError(sdk(echoOnly).messages.create({ ...body, model: "sim/lorem" }), Anthropic.PermissionDeniedError, 403);
  await sdk(oncePerMinute).messages.create(body);
  await expectError(sdk(oncePerMinute).messages.create(body), Anthropic.RateLimitError, 429);
  const bad = await sdk(admin).messages.create({ ...body, top_k: 3 }).catch((e) => e);
  assert.equal(bad.error?.error?.type, "invalid_request_error");
  assert.match(bad.message, /top_k/);

  const stream = sdk(admin).messages.stream({ ...body, model: "sim/flaky", max_tokens: 64 });
  await assert.rejects(stream.finalMessage(), (e) => {
    assert.ok(e instanceof Anthropic.APIError, `${e?.constructor?.name}: ${e?.message}`);
    return true;
  });
});

test("@anthropic-ai/sdk: count_tokens", async () => {
  const counted = await sdk(admin).messages.countTokens({
    model: "sim/echo",
    messages: [{ role: "user", content: "one two three four" }],
  });
  assert.ok(counted.input_tokens >= 4, JSON.stringify(counted));
});

test("@ai-sdk/anthropic: streamText with usage", async () => {
  const anthropic = createAnthropic({ baseURL: `${server.url}/v1`, apiKey: admin });
  const result = streamText({
    model: anthropic("sim/echo"),
    prompt: "red green blue",
    maxRetries: 0,
  });
  let text = "";
  for await (const delta of result.textStream) text += delta;
  assert.equal(text, "red green blue");
  const usage = await result.usage;
  assert.equal(usage.outputTokens, 3);
  assert.equal(await result.finishReason, "stop");
});
