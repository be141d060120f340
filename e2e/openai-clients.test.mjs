// The OpenAI-compatible endpoint with real clients from npm (issue 27), against a running
// `llm-compare serve`: the official `openai` SDK (streamed and not, a tool-calling model's
// calls in the SDK's typed objects, each error as the SDK's own class, an error mid-stream)
// and the Vercel AI SDK through `@ai-sdk/openai-compatible` (`streamText` with usage).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
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
const sdk = (apiKey) => new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0 });

const tools = [{
  type: "function",
  function: {
    name: "lookup",
    description: "Looks a word up.",
    parameters: { type: "object", properties: { q: { type: "string" } }, required: ["q"] },
  },
}];

test("the openai SDK: a completion, streamed and not, with usage when asked for", async () => {
  const client = sdk(admin);
  const answer = await client.chat.completions.create({
    model: "sim/echo",
    messages: [{ role: "user", content: "a b c" }],
  });
  assert.equal(answer.object, "chat.completion");
  assert.equal(answer.choices[0].message.content, "a b c");
  assert.equal(answer.choices[0].message.refusal, null);
  assert.equal(answer.choices[0].logprobs, null);
  assert.equal(answer.choices[0].finish_reason, "stop");
  assert.equal(answer.usage.completion_tokens, 3);

  const stream = await client.chat.completions.create({
    model: "sim/echo",
    messages: [{ role: "user", content: "one two three four" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, "one two three four");
  assert.equal(finish, "stop");
  assert.equal(usage?.completion_tokens, 4);

  // Not asked for: no usage chunk (as OpenAI).
  const plain = await client.chat.completions.create({
    model: "sim/echo", messages: [{ role: "user", content: "x y" }], stream: true,
  });
  const chunks = [];
  for await (const chunk of plain) chunks.push(chunk);
  assert.ok(chunks.length > 0);
  assert.ok(chunks.every((c) => !c.usage), JSON.stringify(chunks));
});

test("the openai SDK: a tool-calling model's calls arrive as typed tool calls", async () => {
  const client = sdk(admin);
  const answer = await client.chat.completions.create({
    model: "sim/agent", messages: [{ role: "user", content: "find walrus" }], tools,
  });
  const choice = answer.choices[0];
  assert.equal(choice.finish_reason, "tool_calls");
  assert.equal(choice.message.content, null);
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, "function");
  assert.equal(call.function.name, "lookup");
  assert.equal(typeof JSON.parse(call.function.arguments).q, "string");

  // Streamed: the SDK's helper assembles the calls from the deltas.
  const runner = client.chat.completions.stream({
    model: "sim/agent", messages: [{ role: "user", content: "find walrus" }], tools,
  });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.tool_calls[0].function.name, "lookup");
  assert.equal(final.choices[0].finish_reason, "tool_calls");
});

test("the openai SDK: each error is the SDK's own class, with OpenAI's type and param", async () => {
  const cases = [
    ["an unknown model", admin, { model: "nope/x" }, OpenAI.BadRequestError, 400, "invalid_request_error", "model"],
    ["n = 2", admin, { model: "sim/echo", n: 2 }, OpenAI.BadRequestError, 400, "invalid_request_error", "n"],
    ["logprobs", admin, { model: "sim/echo", logprobs: true }, OpenAI.BadRequestError, 400, "invalid_request_error", "logprobs"],
    ["a wrong key", "lcsk_wrong", { model: "sim/echo" }, OpenAI.AuthenticationError, 401, "authentication_error", null],
    ["a model the key may not use", echoOnly, { model: "sim/lorem" }, OpenAI.PermissionDeniedError, 403, "permission_error", null],
    ["a failing model", admin, { model: "sim/flaky" }, OpenAI.InternalServerError, 502, "server_error", null],
  ];
  for (const [what, key, body, cls, status, type, param] of cases) {
    await assert.rejects(
      sdk(key).chat.completions.create({ messages: [{ role: "user", content: "x" }], ...body }),
      (e) => {
        assert.ok(e instanceof cls, `${what}: ${e.constructor.name}: ${e.message}`);
        assert.equal(e.status, status, what);
        assert.equal(e.type, type, what);
        if (param) assert.equal(e.param, param, what);
        return true;
      },
    );
  }
  // One request a minute: the second is a RateLimitError (with Retry-After).
  const limited = sdk(oncePerMinute);
  await limited.chat.completions.create({ model: "sim/echo", messages: [{ role: "user", content: "x" }] });
  await assert.rejects(
    limited.chat.completions.create({ model: "sim/echo", messages: [{ role: "user", content: "x" }] }),
    (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.type, "rate_limit_error");
      assert.ok(Number(e.headers.get("retry-after")) >= 1);
      return true;
    },
  );
});

test("the openai SDK: a model failing mid-stream raises the SDK's APIError", async () => {
  const stream = await sdk(admin).chat.completions.create({
    model: "sim/flaky", messages: [{ role: "user", content: "go" }], stream: true,
  });
  let text = "";
  await assert.rejects(
    (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    })(),
    (e) => {
      assert.ok(e instanceof OpenAI.APIError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.type, "server_error");
      return true;
    },
  );
  assert.ok(text.length > 0, "the words before the failure arrived");
});

test("the openai SDK: a streamed request whose model fails before its first token raises from create", async () => {
  await assert.rejects(
    sdk(admin).chat.completions.create({
      model: "sim/error", messages: [{ role: "user", content: "go" }], stream: true,
    }),
    (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 400);
      assert.equal(e.type, "invalid_request_error");
      return true;
    },
  );
});

test("the Vercel AI SDK (openai-compatible provider): streamText with usage", async () => {
  const provider = createOpenAICompatible({
    name: "llm-compare",
    baseURL: `${server.url}/v1`,
    apiKey: admin,
    includeUsage: true,
  });
  const result = streamText({ model: provider("sim/echo"), prompt: "red green blue" });
  let text = "";
  for await (const delta of result.textStream) text += delta;
  assert.equal(text, "red green blue");
  assert.equal(await result.finishReason, "stop");
  const usage = await result.usage;
  assert.equal(usage.outputTokens, 3);
  assert.ok(usage.inputTokens > 0);
});
