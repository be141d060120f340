// The coding agents against llm-compare (issue 47), offline on loopback: Claude Code
// (`@anthropic-ai/claude-code`, non-interactive `-p`) completes a task through `/v1/messages`,
// and Codex CLI (`@openai/codex`, `codex exec` with a custom provider) one through
// `/v1/responses` — running a shell command the simulated model asks for and reading its
// output back —, and what each sent is recorded as comparisons its user can open. The agents
// run with their own empty HOME and their telemetry, updaters and other non-essential traffic
// off: nothing leaves the machine.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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

test("Codex CLI completes a task through /v1/responses, running the tool the model calls", async () => {
  // A custom provider at the server (the Responses wire), no web search (a built-in tool
  // the server does not run: it would be refused), no analytics or update check.
  const codexHome = path.join(home, ".codex");
  mkdirSync(codexHome, { recursive: true });
  writeFileSync(
    path.join(codexHome, "config.toml"),
    [
      'model = "sim/agent"',
      'model_provider = "llmc"',
      'web_search = "disabled"',
      "check_for_update_on_startup = false",
      "[analytics]",
      "enabled = false",
      "[model_providers.llmc]",
      'name = "llm-compare"',
      `base_url = "${server.url}/v1"`,
      'env_key = "LLMC_KEY"',
      'wire_api = "responses"',
      "",
    ].join("\n"),
  );
  const codex = path.join(root, "e2e", "node_modules", ".bin", "codex");
  const work = mkdtempSync(path.join(home, "work-"));
  const running = run(codex, ["exec", "--skip-git-repo-check", "echo pineapple"], {
    cwd: work,
    timeout: 90_000,
    env: agentEnv({ LLMC_KEY: server.adminKey }),
  });
  // `codex exec` reads more of its prompt from stdin until it closes.
  running.child.stdin.end();
  const { stdout } = await running;
  // sim/agent called Codex's first tool (exec_command) with the prompt as its command; Codex
  // ran it and sent the output back; the model answered with what the tool returned.
  assert.match(stdout, /`exec_command` returned:[\s\S]*pineapple/);

  const headers = { authorization: `Bearer ${server.adminKey}` };
  const answered = await until(async () => {
    const list = await (await fetch(`${server.url}/v1/comparisons`, { headers })).json();
    const calls = list.comparisons.filter((c) => c.kind === "response" && c.status === "completed");
    return calls.length >= 2 ? calls : undefined;
  }, "Codex's two requests recorded");
  assert.deepEqual(answered[0].models, ["sim/agent"]);
  // The newest: the answer after the tool's output.
  const last = await (await fetch(`${server.url}/v1/comparisons/${answered[0].id}`, { headers })).json();
  assert.match(last.models[0].text, /exec_command` returned:[\s\S]*pineapple/);
});
