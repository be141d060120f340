// Test harness: a real `llm-compare serve` process, a TCP proxy that can cut every
// connection (a network drop), and Debian's chromium driven by playwright-core.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "..");

export const binary = process.env.LLM_COMPARE_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "debug", "llm-compare");

// Screenshots go to target/ by default; LLM_COMPARE_UPDATE_SCREENSHOTS=1 writes the ones
// committed under docs/img/.
export const shotDir = process.env.LLM_COMPARE_UPDATE_SCREENSHOTS === "1"
  ? path.join(root, "docs", "img")
  : path.join(root, "target", "e2e-screenshots");
mkdirSync(shotDir, { recursive: true });

/**
 * Starts `llm-compare serve` on a free loopback port with its own data dir; `mint` lists
 * extra keys to create first (`llm-compare keys create` arguments each), returned in order
 * as `minted`.
 */
export async function startServer({ env = {}, args = [], mintAdmin = false, mint = [] } = {}) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "llmc-e2e-"));
  const clean = { ...process.env };
  // A developer's real keys must not make the tests call real providers.
  for (const k of Object.keys(clean)) {
    if (/_API_KEY$/.test(k) || k === "LLM_COMPARE_API_KEYS" || k.startsWith("LLM_COMPARE_SIM_") || k === "LLM_COMPARE_DATABASE_URL") delete clean[k];
  }
  // The first admin key, minted as a fresh install does: `llm-compare keys create --admin`.
  const adminKey = mintAdmin
    ? execFileSync(binary, ["keys", "--data-dir", dataDir, "create", "--user", "root", "--admin"], { env: clean, stdio: ["ignore", "pipe", "ignore"] }).toString().trim()
    : undefined;
  const minted = mint.map((keyArgs) =>
    execFileSync(binary, ["keys", "--data-dir", dataDir, "create", ...keyArgs], { env: clean, stdio: ["ignore", "pipe", "ignore"] }).toString().trim());
  const child = spawn(binary, ["serve", "--bind", "127.0.0.1:0", "--data-dir", dataDir, ...args], {
    env: { ...clean, RUST_LOG: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 20000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[0-9.:]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${stderr}`)); });
  });
  return {
    url,
    adminKey,
    minted,
    port: Number(new URL(url).port),
    async stop() {
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A loopback TCP proxy to `port`; `drop()` cuts every open connection, as a network would. */
export async function startProxy(port) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    drop() {
      const n = sockets.size;
      for (const s of sockets) s.destroy();
      sockets.clear();
      return n;
    },
    close() { this.drop(); return new Promise((r) => server.close(r)); },
  };
}

/** Debian's chromium (never a downloaded browser: this machine cannot fetch one). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--headless", "--disable-gpu", "--disable-dev-shm-usage",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--no-first-run", "--disable-quic",
    ],
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value (returned) or `ms` pass (throws `what`). */
export async function until(fn, what, ms = 15000, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

/**
 * A server on the simulated models (no delays) with the keys the client tests use: an
 * admin's, one that may use only `sim/echo`, one allowed one request a minute.
 */
export async function startClientServer() {
  const server = await startServer({
    env: { LLM_COMPARE_SIM_TTFT_MS: "0", LLM_COMPARE_SIM_TOKENS_PER_S: "0" },
    mintAdmin: true,
    mint: [
      ["--user", "carol", "--models", "sim/echo"],
      ["--user", "dave", "--rpm", "1"],
    ],
  });
  const [echoOnly, oncePerMinute] = server.minted;
  return { server, admin: server.adminKey, echoOnly, oncePerMinute };
}
