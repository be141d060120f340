// The coding agents against llm-compare (issue 47), offline on loopback: Claude Code
// (`@anthropic-ai/claude-code`, non-interactive `-p`) completes a task through `/v1/messages`
// on a simulated model, and what it sent is recorded as a comparison its user can open.
// The agent runs with its own empty HOME and its telemetry, updater and other non-essential
// traffic off: nothing leaves the machine.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { root, startServer, until } from "./harness.mjs";

const run = promisify(execFile);
let server, home;

before(async () => {
  server = await startServer({
    env: { LLM_COMPARE_SIM_TTFT_MS: "0", LLM_COMPARE_SIM_TOKENS_PER_S: "0" },
    mintAdmin: true,
  });
  home = mkdtempSync(path.join(os.tmpdir(), "llmc-agent-"));
});

after(async () => {
  await server?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** The agent's environment: only what it needs, pointed at the server. */
function agentEnv(extra) {
  return {
    PATH: process.env.PATH,
    HOME: home,
    DISABLE_TELEMETRY: "1",
    DISABLE_AUTOUPDATER: "1",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    ...extra,
  };
}

test("Claude Code completes a task through /v1/messages", async () => {
  const claude = path.join(root, "e2e", "node_modules", ".bin", "claude");
  const { stdout } = await run(
    claude,
    ["-p", "say the word pineapple", "--model", "sim/echo"],
    {
      cwd: home,
      timeout: 60_000,
      env: agentEnv({ ANTHROPIC_BASE_URL: server.url, ANTHROPIC_API_KEY: server.adminKey }),
    },
  );
  // The simulated model repeats what it was asked: Claude Code printed its answer.
  assert.match(stdout, /say the word pineapple/);

  const headers = { authorization: `Bearer ${server.adminKey}` };
  // Recorded as the call ends (written behind the answer).
  const sent = await until(async () => {
    const list = await (await fetch(`${server.url}/v1/comparisons`, { headers })).json();
    return list.comparisons.find((c) => c.kind === "message" && c.status === "completed");
  }, "Claude Code's request recorded");
  assert.deepEqual(sent.models, ["sim/echo"]);
  const snapshot = await (await fetch(`${server.url}/v1/comparisons/${sent.id}`, { headers })).json();
  assert.equal(snapshot.status, "completed");
  assert.match(snapshot.models[0].text, /pineapple/);
});
