// End-to-end tests of the web UI: Debian's chromium (playwright-core) against a real
// `llm-compare serve` with simulated models, through a proxy that can drop the network.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { launchBrowser, shotDir, sleep, startProxy, startServer, until } from "./harness.mjs";

const require = createRequire(import.meta.url);
const axePath = require.resolve("axe-core/axe.min.js");

// Slow enough to watch text grow, fast enough for a quick suite.
const SIM = {
  LLM_COMPARE_SIM_TTFT_MS: "150",
  LLM_COMPARE_SIM_SLOW_TTFT_MS: "1500",
  LLM_COMPARE_SIM_TOKENS_PER_S: "15",
};

const WORDS = "the quick brown fox jumps over the lazy dog while seven wizards quietly judge".split(" ");
const sentence = (n) => Array.from({ length: n }, (_, i) => WORDS[i % WORDS.length]).join(" ");

let server;
let proxy;
let browser;

before(async () => {
  server = await startServer({ env: SIM });
  proxy = await startProxy(server.port);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.stop();
});

async function openPage({ width = 1400, height = 900, url = server.url, bypassCSP = false } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, bypassCSP });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.errors = errors;
  await page.goto(url + "/");
  await page.waitForSelector("#model-list input");
  return page;
}

async function chooseModels(page, models) {
  for (const input of await page.$$("#model-list input:checked")) await input.uncheck();
  for (const m of models) await page.check(`#model-list input[value="${m}"]`);
}

async function start(page, { models, prompt, params = {}, blind = false }) {
  await chooseModels(page, models);
  if (params.max_tokens) {
    await page.click(".options summary");
    await page.fill("#max-tokens", String(params.max_tokens));
  }
  if (blind) await page.check("#blind");
  await page.fill("#prompt", prompt);
  await page.click("#start");
  await page.waitForSelector(".turn[data-request-id]");
  return page.$eval(".turn:last-of-type", (t) => t.dataset.requestId);
}

/** The text of each column of the last turn. */
const columnTexts = (page) => page.$$eval(".turn:last-of-type .col .col-body", (bs) => bs.map((b) => b.innerText.trim()));
const finished = (page) => page.$(".turn:last-of-type[data-finished=true]");

async function badges(page, index) {
  return page.$eval(`.turn:last-of-type .col[data-index="${index}"]`, (c) => ({
    ttft: c.querySelector(".b-ttft b").textContent,
    tps: c.querySelector(".b-tps b").textContent,
    tokens: c.querySelector(".b-tokens b").textContent,
    cost: c.querySelector(".b-cost b").textContent,
    stage: c.querySelector(".stage").textContent,
    error: c.querySelector(".col-error").hidden ? null : c.querySelector(".col-error").textContent,
    final: c.dataset.final === "true",
  }));
}

async function apiGet(page, p) {
  return page.evaluate(async (u) => (await fetch(u)).json(), p);
}

/** axe-core's colour-contrast and keyboard-relevant rules on the current page. */
async function accessibility(page) {
  await page.addScriptTag({ path: axePath });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: "rule", values: ["color-contrast", "label", "button-name", "link-name", "aria-allowed-attr", "nested-interactive", "scrollable-region-focusable"] },
    });
    return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ") + " " + (n.failureSummary || "")).join(" | ")}`);
  });
}

describe("web UI", () => {
  test("the page is embedded, lists models with reasons, and needs no CDN", async () => {
    const resp = await fetch(server.url + "/");
    assert.equal(resp.status, 200);
    assert.match(resp.headers.get("content-type"), /text\/html/);
    assert.match(resp.headers.get("content-security-policy"), /script-src 'self'/);
    const html = await resp.text();
    assert.doesNotMatch(html, /https?:\/\//, "no external URL in the page");
    const etag = (await fetch(server.url + "/ui/app.js")).headers.get("etag");
    assert.ok(etag);
    const again = await fetch(server.url + "/ui/app.js", { headers: { "If-None-Match": etag } });
    assert.equal(again.status, 304);
    assert.equal((await fetch(server.url + "/ui/nope.js")).status, 404);

    const page = await openPage();
    const sims = await page.$$eval(".model-option:not(.unavailable) input", (is) => is.map((i) => i.value));
    for (const m of ["sim/echo", "sim/lorem", "sim/slow", "sim/flaky", "sim/error"]) assert.ok(sims.includes(m), m);
    // Providers without keys are listed, disabled, with the reason.
    const unavailable = await page.$$eval(".model-option.unavailable", (os) => os.map((o) => ({
      disabled: o.querySelector("input").disabled, why: o.querySelector(".why").textContent,
    })));
    assert.ok(unavailable.length > 0, "some provider is unconfigured here");
    for (const u of unavailable) {
      assert.ok(u.disabled);
      assert.ok(u.why.length > 5, `a reason is shown: ${u.why}`);
    }
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test("three models stream side by side; text grows, badges fill at the end", async () => {
    const page = await openPage();
    const prompt = `Here is some **markdown** and code:\n\n\`\`\`rust\nfn main() {\n    println!("{}", 40 + 2);\n}\n\`\`\`\n\n${sentence(30)}`;
    await chooseModels(page, ["sim/echo", "sim/lorem", "sim/slow"]);
    // Keyboard: type the prompt and send with Ctrl+Enter.
    await page.focus("#prompt");
    await page.keyboard.insertText(prompt);
    await page.keyboard.press("Control+Enter");
    await page.waitForSelector(".turn[data-request-id]");
    assert.match(page.url(), /#\/s\//, "a session, so a follow-up can come");

    // Sample the columns while they stream.
    const samples = [[], [], []];
    let shot = false;
    while (!(await finished(page))) {
      const texts = await columnTexts(page);
      texts.forEach((t, i) => samples[i].push(t.length));
      if (!shot && texts.every((t) => t.length > 40)) {
        await page.screenshot({ path: path.join(shotDir, "streaming-desktop.png") });
        shot = true;
        // Live estimates while streaming.
        const live = await badges(page, 1);
        assert.match(live.tokens, /^~\d+$/);
      }
      await sleep(100);
    }
    for (const [i, s] of samples.entries()) {
      const distinct = [...new Set(s)].filter((n) => n > 0);
      assert.ok(distinct.length >= 4, `column ${i} grew in steps: ${distinct}`);
      for (let k = 1; k < s.length; k++) assert.ok(s[k] >= s[k - 1], `column ${i} never shrinks`);
    }
    // Markdown rendered, code highlighted.
    const echo = page.locator(".turn .col[data-index='0'] .col-body");
    assert.equal(await echo.locator("strong").innerText(), "markdown");
    assert.ok(await echo.locator("pre code.hljs.language-rust .hljs-keyword").count() > 0, "rust highlighted");
    for (const i of [0, 1, 2]) {
      const b = await badges(page, i);
      assert.ok(b.final, `column ${i} final`);
      assert.equal(b.stage, "done");
      assert.match(b.ttft, /^\d+(\.\d+)? m?s$/);
      assert.match(b.tokens, /^\d+ → \d+$/);
      assert.match(b.tps, /^\d+\.\d$/);
      assert.equal(b.cost, "$0");
    }
    // The slow model's time to first token shows in its badge.
    const slow = await badges(page, 2);
    assert.ok(parseFloat(slow.ttft) >= 1.4 && slow.ttft.endsWith(" s"), slow.ttft);
    assert.equal(await page.$eval(".turn .turn-status", (s) => s.textContent), "Completed");
    await page.screenshot({ path: path.join(shotDir, "compare-desktop.png"), fullPage: true });
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test("Stop cancels a slow comparison", async () => {
    const page = await openPage();
    const id = await start(page, { models: ["sim/slow", "sim/lorem"], prompt: "take your time", params: { max_tokens: 500 } });
    await until(async () => (await columnTexts(page))[1].length > 10, "lorem's first words");
    const t0 = Date.now();
    await page.click(".turn .stop");
    await page.waitForSelector(".turn[data-status=cancelled][data-finished=true]", { timeout: 5000 });
    const took = Date.now() - t0;
    assert.ok(took < 3000, `stopped in ${took} ms`);
    assert.equal((await badges(page, 0)).stage, "cancelled");
    assert.equal((await badges(page, 1)).stage, "cancelled");
    const lorem = (await columnTexts(page))[1];
    assert.ok(lorem.split(" ").length < 500, "lorem stopped early, partial text kept");
    const snap = await apiGet(page, `/v1/comparisons/${id}`);
    assert.equal(snap.status, "cancelled");
    assert.equal(await page.$eval(".turn .turn-status", (s) => s.textContent), "Stopped");
    await page.context().close();
  });

  test("a failing model shows its error while the others finish", async () => {
    const page = await openPage();
    const prompt = sentence(24);
    await start(page, { models: ["sim/echo", "sim/error", "sim/flaky"], prompt });
    // The error shows while echo is still streaming.
    await until(async () => (await badges(page, 1)).error, "sim/error's error");
    const echoWhenFailed = (await columnTexts(page))[0];
    assert.ok(echoWhenFailed.length < prompt.length, "echo still streaming when the error shows");
    await until(() => finished(page), "the end");
    const [echo, err, flaky] = [await badges(page, 0), await badges(page, 1), await badges(page, 2)];
    assert.equal(echo.stage, "done");
    assert.equal(echo.error, null);
    assert.equal((await columnTexts(page))[0], prompt, "echo complete");
    assert.equal(err.stage, "failed");
    assert.match(err.error, /^bad_request: simulated failure/);
    assert.equal(flaky.stage, "failed");
    assert.match(flaky.error, /^server: .*\(retryable\)$/);
    assert.ok((await columnTexts(page))[2].length > 0, "flaky keeps its partial text");
    assert.equal(await page.$eval(".turn", (t) => t.dataset.status), "completed");
    // A model that failed without a word cannot win.
    assert.ok(await page.$eval(".vote-model[data-winner='1']", (b) => b.disabled));
    await page.context().close();
  });

  test("attach by file picker and by paste: thumbnails, then the comparison runs with them", async () => {
    const page = await openPage();
    await chooseModels(page, ["sim/echo"]);
    const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
    await page.setInputFiles("#attach", { name: "dot.png", mimeType: "image/png", buffer: png });
    await page.waitForSelector("#attachments .attachment img.thumb");
    // Paste a text file into the prompt.
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["some notes"], "notes.txt", { type: "text/plain" }));
      document.querySelector("#prompt").dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    await page.waitForSelector("#attachments .file-chip");
    assert.equal(await page.textContent("#attachments .file-chip"), "notes.txt");
    assert.equal((await page.$$("#attachments .attachment")).length, 2);
    // Sending: the comparison carries both and answers; the tray empties.
    await page.fill("#prompt", "what is in the picture");
    await page.click("#start");
    await page.waitForSelector(".turn[data-request-id]");
    await until(() => finished(page), "the comparison with an attachment");
    assert.equal((await columnTexts(page))[0], "what is in the picture");
    assert.equal((await page.$$("#attachments .attachment")).length, 0, "sent attachments are cleared");
    // The turn shows what it carried; it is a session, so it goes on (and sends them again).
    await page.waitForSelector(".turn .turn-attachments img.thumb");
    assert.equal(await page.textContent(".turn .turn-attachments .file-chip"), "notes.txt");
    await page.waitForSelector("#follow-up:not([hidden])");
    await page.fill("#follow-prompt", "and now?");
    await page.click("#follow-send");
    await until(async () => (await page.$$(".turn[data-finished='true']")).length === 2, "the second turn");
    // Reopened from history: the thumbnail comes from the server's stored bytes.
    await page.reload();
    await page.waitForSelector(".turn .turn-attachments img.thumb[src^='data:image/png']");
    assert.equal((await page.$$(".turn")).length, 2);
    assert.equal((await page.$$(".turn .turn-attachments img.thumb")).length, 1, "only turn 1 has attachments");
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test("a structured answer shows pretty-printed JSON under a valid / invalid badge", async () => {
    const resp = await fetch(server.url + "/v1/comparisons", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: '{"ok": true, "n": [1, 2]}', models: ["sim/echo", "sim/lorem"], response_format: { type: "json_object" } }),
    });
    assert.equal(resp.status, 201);
    const { request_id: id } = await resp.json();
    const page = await openPage({ url: server.url });
    await page.goto(`${server.url}/#/c/${id}`);
    await page.waitForSelector('.col[data-index="0"] .json-valid');
    assert.equal(await page.textContent('.col[data-index="0"] .json-valid'), "JSON ✓ valid");
    assert.equal(await page.textContent('.col[data-index="0"] .col-body pre code'), '{\n  "ok": true,\n  "n": [\n    1,\n    2\n  ]\n}');
    await page.waitForSelector('.col[data-index="1"] .json-invalid');
    assert.match(await page.textContent('.col[data-index="1"] .json-result'), /not JSON/);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test("votes change the leaderboard; blind hides names until the vote", async () => {
    const page = await openPage();
    const before = await apiGet(page, "/v1/leaderboard");
    const votesOf = (lb, m) => lb.models.find((x) => x.model === m)?.votes ?? 0;

    await start(page, { models: ["sim/echo", "sim/lorem"], prompt: sentence(6) });
    await until(() => finished(page), "the end");
    await page.fill(".vote .feedback", "echo said exactly what I asked");
    await page.click(".vote-model[data-winner='0']");
    await page.waitForSelector(".vote-done");
    assert.match(await page.textContent(".vote-done"), /A \(sim\/echo\) is better/);

    // Blind: nothing names a model until the vote.
    await page.click("#new-button");
    await start(page, { models: ["sim/echo", "sim/lorem"], prompt: sentence(5), blind: true });
    await until(() => finished(page), "the blind end");
    const turnText = await page.$eval(".turn", (t) => t.innerText);
    assert.doesNotMatch(turnText, /sim\//, "no model name before the vote");
    const names = await page.$$eval(".turn .col-name", (ns) => ns.map((n) => n.textContent).sort());
    assert.deepEqual(names, ["Model A", "Model B"]);
    await page.click(".vote-model[data-winner='0']");
    await page.waitForSelector(".vote-done");
    const revealed = await page.$$eval(".turn .col-name", (ns) => ns.map((n) => n.textContent).sort());
    assert.deepEqual(revealed, ["sim/echo", "sim/lorem"], "names revealed after the vote");

    await page.click("a[data-nav=leaderboard]");
    await page.waitForSelector("#lb-table tbody tr[data-model='sim/echo']");
    const after = await apiGet(page, "/v1/leaderboard");
    assert.equal(after.votes, before.votes + 2);
    assert.equal(votesOf(after, "sim/echo"), votesOf(before, "sim/echo") + 2);
    const row = await page.$eval("#lb-table tbody tr[data-model='sim/echo']", (r) => r.querySelector(".votes").textContent);
    assert.equal(row, String(votesOf(after, "sim/echo")), "the table shows the new count");
    assert.equal(await page.locator("#lb-chart svg circle").count(), after.models.length, "one point per model");
    assert.match(await page.textContent("#lb-summary"), /2 votes|\d+ votes/);
    await page.screenshot({ path: path.join(shotDir, "leaderboard-desktop.png"), fullPage: true });
    // The filters: style control refits and shows the style coefficients; judges' votes are
    // a board of their own (none here).
    await page.check("#lb-style");
    await until(async () => /Style control: length/.test(await page.textContent("#lb-summary")), "the style-controlled board");
    await page.uncheck("#lb-style");
    await page.selectOption("#lb-source", "judge");
    await until(async () => /No votes yet/.test(await page.textContent("#lb-summary")), "the judges' board");
    assert.equal(await page.locator("#lb-category option").first().textContent(), "All");
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test("reloading mid-stream resumes the stream", async () => {
    const page = await openPage();
    const prompt = sentence(60); // ~4 s at 15 words/s
    await start(page, { models: ["sim/echo", "sim/lorem"], prompt, params: { max_tokens: 60 } });
    await until(async () => (await columnTexts(page))[0].length > 40, "some text");
    const url = page.url();
    assert.match(url, /#\/s\//);
    await page.reload();
    await page.waitForSelector(".turn .col");
    const resumedAt = (await columnTexts(page))[0].length;
    assert.ok(resumedAt < prompt.length, "still streaming after the reload");
    const seen = new Set();
    while (!(await finished(page))) {
      seen.add((await columnTexts(page))[0].length);
      await sleep(100);
    }
    assert.ok(seen.size >= 3, `text kept growing after the reload: ${[...seen]}`);
    assert.equal((await columnTexts(page))[0], prompt, "exactly the answer: nothing lost, nothing twice");
    assert.ok((await badges(page, 0)).final);
    await page.context().close();
  });

  test("the stream reconnects by itself after a network drop", async () => {
    const page = await openPage({ url: proxy.url });
    const prompt = sentence(45);
    await start(page, { models: ["sim/echo"], prompt });
    await until(async () => (await columnTexts(page))[0].length > 30, "some text");
    const cut = proxy.drop();
    assert.ok(cut > 0, "connections cut");
    await until(async () => Number(await page.$eval(".turn", (t) => t.dataset.reconnects || 0)) >= 1, "a reconnect");
    await until(() => finished(page), "the end after the drop");
    assert.equal((await columnTexts(page))[0], prompt, "resumed from the last event: nothing lost, nothing twice");
    await page.context().close();
  });

  test("follow-up turns in a session; history reopens sessions and comparisons", async () => {
    const page = await openPage();
    await start(page, { models: ["sim/echo", "sim/lorem"], prompt: "first question" });
    await until(() => finished(page), "turn 1");
    await page.waitForSelector("#follow-up:not([hidden])");
    await page.fill("#follow-prompt", "second question");
    await page.keyboard.press("Control+Enter");
    await until(async () => (await page.$$(".turn[data-finished=true]")).length === 2, "turn 2");
    assert.equal((await columnTexts(page))[0], "second question");
    const sessionUrl = page.url();

    // A one-off comparison made through the API shows in the history too.
    const created = await page.evaluate(async () => (await fetch("/v1/comparisons", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ prompt: "made by the API", models: ["sim/echo"] }),
    })).json());
    await page.click("a[data-nav=history]");
    await page.waitForSelector("#session-list a");
    const sessions = await page.$$eval("#session-list a", (as) => as.map((a) => ({ href: a.getAttribute("href"), text: a.innerText })));
    const mine = sessions.find((s) => sessionUrl.endsWith(s.href));
    assert.ok(mine, "the session is listed");
    assert.match(mine.text, /first question/);
    assert.match(mine.text, /2 turns/);
    await page.waitForSelector(`#comparison-list a[href="#/c/${created.request_id}"]`);

    await page.click(`#session-list a[href="${mine.href}"]`);
    await until(async () => (await page.$$(".turn[data-finished=true]")).length === 2, "both turns reopened");
    const prompts = await page.$$eval(".turn .turn-prompt", (ps) => ps.map((p) => p.textContent));
    assert.deepEqual(prompts, ["first question", "second question"]);

    await page.click("a[data-nav=history]");
    await page.click(`#comparison-list a[href="#/c/${created.request_id}"]`);
    await until(async () => (await columnTexts(page))[0] === "made by the API", "the comparison reopened");
    await page.context().close();
  });

  test("phone width: one column per row; light and dark themes pass contrast checks", async () => {
    const page = await openPage({ width: 390, height: 844, bypassCSP: true });
    await start(page, { models: ["sim/echo", "sim/lorem", "sim/flaky"], prompt: "Reply with a `code` word and a list:\n\n- alpha\n- beta" });
    await until(() => finished(page), "the end");
    const xs = await page.$$eval(".turn .col", (cs) => cs.map((c) => Math.round(c.getBoundingClientRect().left)));
    assert.equal(new Set(xs).size, 1, `stacked: ${xs}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scrolling (${overflow}px)`);
    await page.screenshot({ path: path.join(shotDir, "compare-phone.png"), fullPage: true });
    assert.deepEqual(await accessibility(page), [], "light theme");
    await page.click("#theme-button");
    assert.equal(await page.$eval("html", (h) => h.dataset.theme), "dark");
    assert.deepEqual(await accessibility(page), [], "dark theme");
    await page.screenshot({ path: path.join(shotDir, "compare-phone-dark.png"), fullPage: true });
    await page.context().close();

    const desk = await openPage({ bypassCSP: true });
    assert.deepEqual(await accessibility(desk), [], "the start form");
    await desk.click("a[data-nav=leaderboard]");
    await desk.waitForSelector("#lb-table tbody tr");
    assert.deepEqual(await accessibility(desk), [], "the leaderboard");
    await desk.context().close();
  });
});

describe("a server with API keys", () => {
  let keyed;
  before(async () => {
    keyed = await startServer({ env: { ...SIM, LLM_COMPARE_API_KEYS: "alice:sk-alice-secret" } });
  });
  after(async () => { await keyed?.stop(); });

  test("the page asks for a key, keeps it in the browser only, and works with it", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(keyed.url + "/");
    await page.waitForSelector("#key-dialog[open]");
    await page.fill("#key-input", "wrong");
    await page.click("#key-save");
    await page.waitForSelector("#key-error:not([hidden])");
    assert.match(await page.textContent("#key-error"), /not accepted/);
    await page.fill("#key-input", "sk-alice-secret");
    await page.click("#key-save");
    await page.waitForFunction(() => !document.querySelector("#key-dialog").open);
    await page.waitForSelector("#model-list input[value='sim/echo']");
    assert.equal(await page.evaluate(() => localStorage.getItem("llm-compare.key")), "sk-alice-secret");
    await start(page, { models: ["sim/echo"], prompt: "with a key" });
    await until(() => finished(page), "the keyed comparison");
    assert.equal((await columnTexts(page))[0], "with a key");
    // Reloaded, it remembers the key: no dialog.
    await page.reload();
    await page.waitForSelector(".turn[data-finished=true]");
    assert.equal(await page.$("#key-dialog[open]"), null);
    // The key never went anywhere but this server: no cookie either.
    assert.deepEqual(await context.cookies(), []);
    await context.close();
  });
});

describe("API keys page", () => {
  let keyed;
  before(async () => {
    keyed = await startServer({ env: SIM, mintAdmin: true });
  });
  after(async () => { await keyed?.stop(); });

  async function signIn(context, key) {
    const page = await context.newPage();
    page.errors = [];
    page.on("pageerror", (e) => page.errors.push(e.message));
    await page.goto(keyed.url + "/");
    await page.waitForSelector("#key-dialog[open]");
    await page.fill("#key-input", key);
    await page.click("#key-save");
    await page.waitForFunction(() => !document.querySelector("#key-dialog").open);
    return page;
  }

  test("an admin mints a key (shown once, copied), edits its limits and revokes it; its user sees its own", async () => {
    const admin = await browser.newContext({ permissions: ["clipboard-read", "clipboard-write"] });
    const page = await signIn(admin, keyed.adminKey);
    await page.goto(keyed.url + "/#/keys");
    await page.waitForSelector("#keys-admin:not([hidden])");
    assert.match(await page.textContent("#self-key"), /root/);
    await page.fill("#nk-user", "zoe");
    await page.fill("#nk-models", "sim/*");
    await page.fill("#nk-rpm", "7");
    await page.click("#nk-create");
    await page.waitForSelector("#nk-secret:not([hidden])");
    const secret = (await page.textContent("#nk-secret-value")).trim();
    assert.match(secret, /^lcsk_/);
    await page.click("#nk-copy");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    const row = "#keys-table tbody tr:first-child";
    assert.equal(await page.textContent(`${row} td:nth-child(2)`), "zoe");
    assert.match(await page.textContent(`${row} .limits`), /7\/min/);
    // The secret is in the page only until it is left: the list shows its prefix alone.
    assert.ok(!(await page.textContent("#keys-table")).includes(secret));
    // Edit its limits inline.
    await page.click(`${row} button:has-text("Edit limits")`);
    await page.fill(".edit-row input[name=rpm]", "9");
    await page.click(".edit-row button[type=submit]");
    await page.waitForSelector(".edit-row", { state: "detached" });
    assert.match(await page.textContent(`${row} .limits`), /9\/min/);

    // Zoe signs in with it: she sees her own key and limits, and no admin area.
    const user = await browser.newContext();
    const zoe = await signIn(user, secret);
    await zoe.goto(keyed.url + "/#/keys");
    await zoe.waitForFunction(() => /zoe/.test(document.querySelector("#self-key").textContent));
    assert.match(await zoe.textContent("#self-key"), /sim\/\*/);
    assert.match(await zoe.textContent("#self-key"), /9\/min/);
    assert.equal(await zoe.isHidden("#keys-admin"), true);

    // Revoked by the admin: her next request is refused and the page asks for a key.
    page.once("dialog", (d) => d.accept());
    await page.click(`${row} button:has-text("Revoke")`);
    await page.waitForFunction((sel) => document.querySelector(sel + " .status").textContent === "revoked", row);
    await until(async () => {
      await zoe.reload();
      return zoe.$("#key-dialog[open]");
    }, "the revoked key refused", 5000, 200);
    assert.deepEqual(page.errors, []);
    await admin.close();
    await user.close();
  });
});

describe("agent comparisons", () => {
  let agentServer;
  let toolServer;
  const calls = [];
  before(async () => {
    // An HTTP tool on loopback, configured as the server's `get_weather`.
    toolServer = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d) => { body += d; });
      req.on("end", () => {
        calls.push(JSON.parse(body));
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify("21 °C and sunny"));
      });
    });
    await new Promise((r) => toolServer.listen(0, "127.0.0.1", r));
    const dir = mkdtempSync(path.join(os.tmpdir(), "llmc-e2e-tools-"));
    const config = path.join(dir, "llm-compare.toml");
    writeFileSync(config, `[tools.get_weather]\nurl = "http://127.0.0.1:${toolServer.address().port}/weather"\ndescription = "The weather in a city"\nparameters = { type = "object", properties = { city = { type = "string" } }, required = ["city"] }\n`);
    agentServer = await startServer({ env: SIM, args: ["--config", config] });
  });
  after(async () => {
    await agentServer?.stop();
    await new Promise((r) => toolServer?.close(r));
  });

  test("an agent comparison shows each model's tool calls, results and steps in its column", async () => {
    const resp = await fetch(agentServer.url + "/v1/comparisons", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Paris", models: ["sim/agent", "sim/agent", "sim/echo"], tools: ["get_weather"] }),
    });
    assert.equal(resp.status, 201);
    const { request_id: id } = await resp.json();
    const page = await openPage({ url: agentServer.url });
    // Twice: the first opening may catch the run live or finished (its events or its
    // snapshot); the reload after it finished is drawn from the stored snapshot.
    for (const reload of [false, true]) {
      if (reload) await page.reload(); else await page.goto(`${agentServer.url}/#/c/${id}`);
      await page.waitForSelector(".turn[data-finished='true']");
      for (const i of [0, 1]) {
        const col = `.col[data-index="${i}"]`;
        assert.equal(await page.textContent(`${col} .tool-call summary`), 'get_weather({"city":"Paris"})');
        assert.equal(await page.textContent(`${col} .tool-result`), "→ 21 °C and sunny");
        assert.equal(await page.textContent(`${col} .stage`), "done · step 2");
        assert.match(await page.textContent(`${col} .col-body`), /`?get_weather`? returned: 21 °C and sunny/);
      }
      assert.equal(await page.textContent('.col[data-index="2"] .stage'), "done");
      assert.equal((await page.$$('.col[data-index="2"] .tool-call')).length, 0);
    }
    assert.equal(calls.length, 2, "each model ran its own call");
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });
});

describe("evals page", () => {
  // Every other row's prompt holds "sky": sim/echo (which repeats the prompt) passes those.
  const rows = (n) => Array.from({ length: n }, (_, i) => JSON.stringify({
    id: `r${i}`, prompt: `describe the ${i % 2 ? "sea" : "sky"} on day ${i}`, expected: "sky", category: i % 2 ? "odd" : "even",
  })).join("\n");

  async function upload(page, name, content) {
    await page.setInputFiles("#ev-file", { name, mimeType: "application/octet-stream", buffer: Buffer.from(content) });
  }

  test("a run started from an uploaded dataset shows its rows live, its summary and its report, and is listed", async () => {
    const page = await openPage({ bypassCSP: true });
    await page.goto(`${server.url}/#/evals`);
    await page.waitForSelector("#ev-models option[value='sim/echo']");
    await upload(page, "rows.jsonl", rows(6));
    await page.selectOption("#ev-models", ["sim/echo", "sim/lorem"]);
    await page.selectOption("#ev-judge", "sim/judge");
    await page.fill("#ev-concurrency", "3");
    await page.click("#ev-start");
    await page.waitForSelector("#ev-run[data-status='running'], #ev-run[data-status='completed']");
    const id = new URL(page.url()).hash.split("/")[2];
    assert.ok(id, page.url());
    await page.waitForSelector("#ev-run[data-status='completed']", { timeout: 60000 });
    const check = async () => {
      assert.equal((await page.$$("#ev-rows tbody tr")).length, 6);
      assert.equal(await page.textContent("#ev-summary tr[data-model='sim/echo'] .ev-rate"), "50.0%");
      assert.equal(await page.textContent("#ev-summary tr[data-model='sim/lorem'] .ev-rate"), "0.0%");
      assert.match(await page.textContent("#ev-status"), /completed · 6\/6 rows/);
      assert.equal(await page.isHidden("#ev-cancel"), true);
      // Each row links to its comparison.
      assert.match(await page.getAttribute("#ev-rows tbody tr[data-row='r0'] a", "href"), /^#\/c\//);
    };
    await check();
    await until(async () => (await page.textContent(`#ev-runs li[data-run='${id}']`))?.includes("6/6 rows · completed"));
    await page.screenshot({ path: path.join(shotDir, "evals-desktop.png"), fullPage: true });
    // Reopened: drawn from the stored run.
    await page.reload();
    await page.waitForSelector("#ev-run[data-status='completed']");
    await check();
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#ev-report")]);
    const file = await download.path();
    const html = (await import("node:fs")).readFileSync(file, "utf8");
    assert.match(html, /Evaluation report/);
    assert.match(html, /Where the models disagree/);
    assert.deepEqual(await accessibility(page), []);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test("a bad dataset is refused naming its line; a running run can be cancelled", async () => {
    const page = await openPage();
    await page.goto(`${server.url}/#/evals`);
    await page.waitForSelector("#ev-models option[value='sim/slow']");
    await upload(page, "bad.jsonl", '{"prompt": "a"}\n{"prompt": 3}\n');
    await page.selectOption("#ev-models", ["sim/echo"]);
    await page.click("#ev-start");
    await page.waitForSelector("#ev-error:not([hidden])");
    assert.match(await page.textContent("#ev-error"), /line 2/);

    await upload(page, "slow.jsonl", rows(4));
    await page.selectOption("#ev-models", ["sim/slow"]);
    await page.fill("#ev-concurrency", "1");
    await page.click("#ev-start");
    await page.waitForSelector("#ev-run[data-status='running'] #ev-cancel:not([hidden])");
    await page.click("#ev-cancel");
    await page.waitForSelector("#ev-run[data-status='cancelled']");
    assert.match(await page.textContent("#ev-status"), /cancelled · [0-3]\/4 rows/);
    // The refused dataset's 400 is the only error the browser logged.
    assert.deepEqual(page.errors.filter((e) => !/status of 400/.test(e)), []);
    await page.context().close();
  });
});
