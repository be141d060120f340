// The comparison stream with a real WHATWG EventSource (the `eventsource` npm package, as
// browser frontends use the built-in one): it reconnects with Last-Event-ID whenever a stream
// ends, so the server must tell it to stop once a comparison is finished (HTTP 204).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { EventSource } from "eventsource";
import { startServer } from "./harness.mjs";

let server;

before(async () => {
  server = await startServer({ env: { LLM_COMPARE_SIM_TTFT_MS: "20", LLM_COMPARE_SIM_TOKENS_PER_S: "200" } });
});

after(async () => {
  await server?.stop();
});

test("an EventSource that never closes reconnects once after complete, gets 204 and stops", async () => {
  const created = await fetch(`${server.url}/v1/comparisons`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: "one two three", models: ["sim/echo", "sim/lorem"] }),
  }).then((r) => r.json());
  const url = `${server.url}/v1/comparisons/${created.request_id}/stream`;

  // Every connection the client opens, with the Last-Event-ID it sent and the status it got.
  const connections = [];
  const countingFetch = async (input, init) => {
    const resp = await fetch(input, init);
    const headers = new Headers(init?.headers);
    connections.push({ lastEventId: headers.get("last-event-id"), status: resp.status });
    return resp;
  };

  const types = [];
  let lastId = null;
  const es = new EventSource(url, { fetch: countingFetch });
  const closed = new Promise((resolve) => {
    es.addEventListener("error", () => {
      if (es.readyState === EventSource.CLOSED) resolve();
    });
  });
  for (const t of ["status", "response_chunk", "model_result", "complete"]) {
    es.addEventListener(t, (e) => {
      types.push(t);
      lastId = e.lastEventId;
    });
  }
  // Before the fix the server answered every reconnect 200 with an empty body: the client
  // never closed. Fail with what it did instead of hanging.
  let timer;
  const stuck = new Promise((_, reject) => {
    timer = setTimeout(() => {
      es.close();
      reject(new Error(`the EventSource never stopped: ${JSON.stringify(connections)}`));
    }, 15000);
  });
  await Promise.race([closed, stuck]);
  clearTimeout(timer);
  assert.equal(types.at(-1), "complete", `the stream ran to complete (${types.join(",")})`);
  // A client that stopped for good opens nothing more, even after the retry hint has passed
  // several times over.
  await new Promise((r) => setTimeout(r, 3500));
  assert.equal(es.readyState, EventSource.CLOSED);
  assert.deepEqual(
    connections,
    [
      { lastEventId: null, status: 200 },
      { lastEventId: lastId, status: 204 },
    ],
    "one stream, then exactly one reconnect that the server answered 204",
  );
});

test("a reconnect before the last event still resumes after Last-Event-ID", async () => {
  const created = await fetch(`${server.url}/v1/comparisons`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: "alpha beta gamma delta", models: ["sim/echo"] }),
  }).then((r) => r.json());
  const url = `${server.url}/v1/comparisons/${created.request_id}/stream`;
  const all = await fetch(url).then((r) => r.text());
  const ids = [...all.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.ok(ids.length > 3, all);
  assert.match(all, /^retry: \d+$/m, "the stream sends a retry hint");
  const resumed = await fetch(url, { headers: { "last-event-id": String(ids[1]) } });
  assert.equal(resumed.status, 200);
  const rest = [...(await resumed.text()).matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.deepEqual(rest, ids.slice(2));
  const done = await fetch(url, { headers: { "last-event-id": String(ids.at(-1)) } });
  assert.equal(done.status, 204);
  assert.equal(await done.text(), "");
});
