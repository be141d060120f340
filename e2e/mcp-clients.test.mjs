// The MCP door with the official TypeScript MCP SDK's client (`@modelcontextprotocol/sdk`,
// issue 47), over both transports: streamable HTTP at `/mcp` of a running server (behind its
// keys) and stdio (`llm-compare mcp`, started by the client). Each lists the tools, compares
// two simulated models and runs an evaluation; a refused call is a tool error naming the
// service's code.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { binary, startServer } from "./harness.mjs";

let server, dataDir;

before(async () => {
  server = await startServer({
    env: { LLM_COMPARE_SIM_TTFT_MS: "0", LLM_COMPARE_SIM_TOKENS_PER_S: "0" },
    mintAdmin: true,
  });
  dataDir = mkdtempSync(path.join(os.tmpdir(), "llmc-mcp-"));
});

after(async () => {
  await server?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function exercise(transport) {
  const client = new Client({ name: "llm-compare-e2e", version: "1.0.0" });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ["compare", "leaderboard", "list_models", "run_evaluation"]);

    const got = await client.callTool({ name: "compare", arguments: { prompt: "one two", models: ["sim/echo", "sim/lorem"] } });
    assert.ok(!got.isError, JSON.stringify(got));
    const [echo, lorem] = got.structuredContent.models;
    assert.equal(echo.text, "one two");
    assert.equal(lorem.model, "sim/lorem");
    assert.equal(echo.output_tokens, 2);

    const refused = await client.callTool({ name: "compare", arguments: { prompt: "x", models: ["nope/x"] } });
    assert.equal(refused.isError, true);
    assert.equal(refused.structuredContent.error.code, "unknown_model");

    const run = await client.callTool({
      name: "run_evaluation",
      arguments: { models: ["sim/echo"], rows: [{ prompt: "say hi", assert: [{ type: "contains", value: "hi" }] }] },
    });
    assert.ok(!run.isError, JSON.stringify(run));
    assert.equal(run.structuredContent.summary.rows, 1);
  } finally {
    await client.close();
  }
}

test("the TypeScript MCP client over streamable HTTP, behind the keys", async () => {
  const url = new URL(`${server.url}/mcp`);
  await exercise(new StreamableHTTPClientTransport(url, {
    requestInit: { headers: { authorization: `Bearer ${server.adminKey}` } },
  }));
  // No key: refused before any MCP is spoken.
  const client = new Client({ name: "no-key", version: "1.0.0" });
  await assert.rejects(client.connect(new StreamableHTTPClientTransport(url)));
});

test("the TypeScript MCP client over stdio (llm-compare mcp)", async () => {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/_API_KEY$/.test(k) && !k.startsWith("LLM_COMPARE_")),
  );
  await exercise(new StdioClientTransport({
    command: binary,
    args: ["mcp", "--data-dir", dataDir],
    env: { ...env, LLM_COMPARE_SIM_TTFT_MS: "0", LLM_COMPARE_SIM_TOKENS_PER_S: "0" },
    stderr: "ignore",
  }));
});
