// @ts-check
// llm-compare web UI: ES modules, no build step. It speaks the public API only
// (/v1/models, /v1/sessions, /v1/comparisons + SSE stream, /v1/leaderboard, /v1/keys), so
// what it shows is what any client of the server gets. This module: the compare view
// (models, attachments, the conversation), history, the key dialog, theme and routing;
// turn.js draws a comparison, turn-state.js folds its events, sse.js reads its stream.

import { api, errorText, serverFeatures } from "./api.js";
import { $, el, notice } from "./dom.js";
import { fmt, needs } from "./format.js";
import { showEvals } from "./evals.js";
import { createKey, loadKeys } from "./keys.js";
import { loadLeaderboard } from "./leaderboard.js";
import { Turn } from "./turn.js";

/** @typedef {import("../../bindings/node/types").ModelInfo} ModelInfo */
/** @typedef {import("../../bindings/node/types").Snapshot} Snapshot */
/** @typedef {{ type: "image" | "file", media_type: string, data: string, name?: string }} UploadPart */

const THEME_STORE = "llm-compare.theme";

// ---------------------------------------------------------------- models

/** @type {{ list: ModelInfo[], byId: Map<string, ModelInfo>, loaded: boolean }} */
const catalogue = { list: [], byId: new Map(), loaded: false };

async function loadModels() {
  const box = $("#model-list");
  try {
    const data = await api.get("/v1/models");
    catalogue.list = data.data;
    catalogue.byId = new Map(data.data.map((/** @type {ModelInfo} */ m) => [m.id, m]));
    catalogue.loaded = true;
  } catch (e) {
    box.textContent = errorText(e);
    box.setAttribute("aria-busy", "false");
    return;
  }
  const chosen = JSON.parse(localStorage.getItem("llm-compare.models") || "null") ||
    ["sim/echo", "sim/lorem"];
  box.replaceChildren();
  box.setAttribute("aria-busy", "false");
  const sorted = [...catalogue.list].sort((a, b) =>
    (Number(b.available) - Number(a.available)) || a.id.localeCompare(b.id));
  for (const m of sorted) {
    const id = "model-" + m.id.replace(/[^a-zA-Z0-9]/g, "-");
    const price = m.input_usd_per_million != null
      ? `$${m.input_usd_per_million} / $${m.output_usd_per_million} per M tokens` : "";
    const input = el("input", {
      type: "checkbox", id, value: m.id, name: "model",
      disabled: !m.available, checked: m.available && chosen.includes(m.id),
      "aria-describedby": id + "-why", "data-lacks": (m.lacks || []).join(","),
    });
    box.append(el("div", { class: "model-option" + (m.available ? "" : " unavailable") },
      input,
      el("label", { for: id },
        m.id,
        el("span", { class: "why", id: id + "-why", text: m.available ? price : (m.reason || "unavailable") }))));
  }
  box.addEventListener("change", limitModels);
  limitModels();
}

function selectedModels() {
  return [.../** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll("#model-list input:checked"))].map((i) => i.value);
}

function limitModels() {
  const n = selectedModels().length;
  for (const i of /** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll("#model-list input"))) {
    const m = catalogue.byId.get(i.value);
    i.disabled = !(m && m.available) || (!i.checked && n >= 8);
  }
}

/** @param {ParentNode} [root] */
function readParams(root = document) {
  /** @type {Record<string, number>} */
  const p = {};
  const t = $("#temperature", root).value;
  const mt = $("#max-tokens", root).value;
  const tp = $("#top-p", root).value;
  if (t !== "") p.temperature = Number(t);
  if (mt !== "") p.max_tokens = Number(mt);
  if (tp !== "") p.top_p = Number(tp);
  return Object.keys(p).length ? p : undefined;
}

// ---------------------------------------------------------------- conversation view

const conv = {
  /** @type {"session" | "comparison" | null} */
  kind: null,
  /** @type {string | null} */
  id: null,
  /** @type {Turn[]} */
  turns: [],
  title: "",

  reset() {
    for (const t of this.turns) if (t.es) t.es.close();
    this.kind = null;
    this.id = null;
    this.turns = [];
    $("#turns").replaceChildren();
    $("#conversation").hidden = true;
    $("#setup").hidden = false;
    $("#follow-up").hidden = true;
  },

  /** @param {string} [title] */
  show(title) {
    $("#setup").hidden = true;
    $("#conversation").hidden = false;
    const first = (title || "").split("\n").map((l) => l.trim()).find(Boolean) || "Comparison";
    const short = first.length > 90 ? first.slice(0, 89) + "…" : first;
    $("#conv-title").textContent = short;
    document.title = `${short} · llm-compare`;
  },

  /** @param {Turn} turn */
  add(turn) {
    this.turns.push(turn);
    $("#turns").append(turn.root);
    this.updateFollowUp();
  },

  updateFollowUp() {
    const last = this.turns[this.turns.length - 1];
    const f = $("#follow-up");
    f.hidden = !(this.kind === "session" && last && last.finished);
  },

  turnDone() {
    conv.updateFollowUp();
    if (!$("#follow-up").hidden) $("#follow-prompt").focus({ preventScroll: true });
  },
};

// ---------------------------------------------------------------- attachments

/** Files to send with the next prompt, as `{file, part}` (part: the API's image/file part).
 * @type {{ file: File, part: UploadPart }[]} */
const attached = [];
const ACCEPTED = ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"];

/** Reads `file` as an attachment part (base64 data).
 * @param {File} file
 * @returns {Promise<UploadPart>} */
function readPart(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onerror = () => reject(reader.error);
    reader.onload = () => {
      const data = String(reader.result).split(",", 2)[1] || "";
      resolve(file.type.startsWith("image/")
        ? { type: "image", media_type: file.type, data }
        : { type: "file", media_type: file.type, data, name: file.name });
    };
    reader.readAsDataURL(file);
  });
}

/** @param {File[]} files */
async function attach(files) {
  for (const file of files) {
    if (!ACCEPTED.includes(file.type)) {
      notice(`${file.name || "That file"} is not an image (PNG, JPEG, GIF, WebP), a PDF or a text file.`);
      continue;
    }
    attached.push({ file, part: await readPart(file) });
  }
  renderAttachments();
}

function renderAttachments() {
  const box = $("#attachments");
  box.replaceChildren(...attached.map((a, i) => {
    const preview = a.part.type === "image"
      ? el("img", { class: "thumb", alt: a.file.name || "pasted image", src: `data:${a.part.media_type};base64,${a.part.data}` })
      : el("span", { class: "file-chip", text: a.file.name || a.part.media_type });
    return el("span", { class: "attachment" }, preview,
      el("button", { type: "button", class: "ghost remove", "aria-label": `Remove ${a.file.name || "attachment"}`, text: "×",
        onclick: () => { attached.splice(i, 1); renderAttachments(); } }));
  }));
  limitToAttachments();
}

/** Models known not to take what is attached are disabled, saying why. */
function limitToAttachments() {
  const wanted = new Set(attached.map((a) => needs(a.part)).filter(Boolean));
  for (const input of /** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll("#model-list input"))) {
    const lacks = (input.dataset.lacks || "").split(",").filter((c) => wanted.has(/** @type {any} */ (c)));
    const why = document.getElementById(input.id + "-why");
    if (lacks.length) {
      input.checked = false;
      input.disabled = true;
      input.dataset.attachDisabled = "true";
      if (why) why.dataset.attach = `does not take ${lacks.map((c) => (c === "vision" ? "images" : "PDFs")).join(" or ")}`;
    } else if (input.dataset.attachDisabled === "true") {
      input.disabled = false;
      delete input.dataset.attachDisabled;
      if (why) delete why.dataset.attach;
    }
  }
}

/** @param {SubmitEvent} ev */
async function startComparison(ev) {
  ev.preventDefault();
  notice("");
  const models = selectedModels();
  const prompt = $("#prompt").value.trim();
  if (!models.length) { notice("Choose at least one model."); return; }
  if (!prompt) { notice("Type a prompt."); $("#prompt").focus(); return; }
  localStorage.setItem("llm-compare.models", JSON.stringify(models));
  const system = $("#system").value.trim() || undefined;
  const params = readParams();
  const blind = $("#blind").checked || undefined;
  const btn = $("#start");
  btn.disabled = true;
  try {
    // A session, so the conversation can go on (its later turns send the attachments
    // again); a server without a store (it says so in /health's features) gets a one-off
    // comparison instead.
    const attachments = attached.map((a) => a.part);
    const session = (await serverFeatures()).store
      ? await api.post("/v1/sessions", { models, system, title: prompt.slice(0, 120) })
      : null;
    const files = attachments.length ? attachments : undefined;
    const body = session
      ? { session_id: session.id, prompt, params, blind, attachments: files }
      : { prompt, models, system, params, blind, attachments: files };
    let created;
    try {
      created = await api.post("/v1/comparisons", body);
    } catch (e) {
      // Refused (budget, rate, a bad parameter): leave no empty session behind.
      if (session) api.del(`/v1/sessions/${session.id}`).catch(() => {});
      throw e;
    }
    conv.reset();
    conv.kind = session ? "session" : "comparison";
    conv.id = session ? session.id : created.request_id;
    conv.show(prompt);
    const turn = new Turn({ id: created.request_id, models: created.models, prompt, blind, live: true, attachments, catalogue: catalogue.byId, onDone: () => conv.turnDone() });
    conv.add(turn);
    turn.stream();
    $("#prompt").value = "";
    attached.length = 0;
    renderAttachments();
    ignoreNextRoute = true;
    location.hash = session ? `#/s/${session.id}` : `#/c/${created.request_id}`;
  } catch (e) {
    notice(errorText(e));
  } finally {
    btn.disabled = false;
  }
}

/** @param {SubmitEvent} ev */
async function sendFollowUp(ev) {
  ev.preventDefault();
  notice("");
  const prompt = $("#follow-prompt").value.trim();
  if (!prompt) { $("#follow-prompt").focus(); return; }
  const btn = $("#follow-send");
  btn.disabled = true;
  try {
    const created = await api.post("/v1/comparisons", {
      session_id: conv.id, prompt, params: readParams(), blind: $("#follow-blind").checked || undefined,
    });
    const turn = new Turn({ id: created.request_id, models: created.models, prompt, blind: $("#follow-blind").checked, live: true, catalogue: catalogue.byId, onDone: () => conv.turnDone() });
    conv.add(turn);
    turn.stream();
    $("#follow-prompt").value = "";
    $("#follow-up").hidden = true;
  } catch (e) {
    notice(errorText(e));
  } finally {
    btn.disabled = false;
  }
}

/** @param {string} id */
async function openSession(id) {
  conv.reset();
  try {
    const s = await api.get(`/v1/sessions/${encodeURIComponent(id)}`);
    conv.kind = "session";
    conv.id = id;
    conv.show(s.title || "Session");
    for (const snap of /** @type {Snapshot[]} */ (s.turns)) {
      const turn = new Turn({ id: snap.request_id, models: snap.models.map((m) => m.model), prompt: snap.prompt, blind: snap.blind, attachments: snap.attachments, catalogue: catalogue.byId, onDone: () => conv.turnDone() });
      conv.add(turn);
      openTurn(turn, snap);
    }
    conv.updateFollowUp();
  } catch (e) {
    notice(errorText(e));
  }
}

/** @param {string} id */
async function openComparison(id) {
  conv.reset();
  try {
    /** @type {Snapshot} */
    const snap = await api.get(`/v1/comparisons/${encodeURIComponent(id)}`);
    if (snap.session_id) { location.hash = `#/s/${snap.session_id}`; return; }
    conv.kind = "comparison";
    conv.id = id;
    conv.show(snap.prompt || "Comparison");
    const turn = new Turn({ id, models: snap.models.map((m) => m.model), prompt: snap.prompt, blind: snap.blind, attachments: snap.attachments, catalogue: catalogue.byId, onDone: () => conv.turnDone() });
    conv.add(turn);
    openTurn(turn, snap);
  } catch (e) {
    notice(errorText(e));
  }
}

// A turn still running is streamed from its first event (exact text, live from there on);
// a finished one is drawn from its snapshot.
/**
 * @param {Turn} turn
 * @param {Snapshot} snap
 */
function openTurn(turn, snap) {
  if (["pending", "running"].includes(snap.status)) {
    turn.preference = snap.preference || null;
    turn.stream();
  } else {
    turn.fromSnapshot(snap);
  }
}

// ---------------------------------------------------------------- history

/** @type {Record<string, string | null>} */
const cursors = { sessions: null, comparisons: null };

/**
 * @param {"sessions" | "comparisons"} kind
 * @param {boolean} more
 */
async function loadHistory(kind, more) {
  const list = $(kind === "sessions" ? "#session-list" : "#comparison-list");
  const btn = $(kind === "sessions" ? "#more-sessions" : "#more-comparisons");
  if (!more) { list.replaceChildren(); cursors[kind] = null; }
  const q = new URLSearchParams({ limit: "20" });
  if (more && cursors[kind]) q.set("cursor", cursors[kind]);
  try {
    const page = await api.get(`/v1/${kind}?${q}`);
    const items = page[kind];
    if (!items.length && !more) list.append(el("li", { class: "hint", text: kind === "sessions" ? "No sessions yet." : "No comparisons yet." }));
    for (const it of items) {
      if (kind === "sessions") {
        list.append(el("li", {}, el("a", { href: `#/s/${it.id}` },
          el("span", { class: "title", text: it.title || "Untitled session" }),
          el("span", { class: "meta", text: `${it.models.join(", ")} · ${it.turn_count} turn${it.turn_count === 1 ? "" : "s"} · ${fmt.date(it.created_at_ms)}` }))));
      } else {
        list.append(el("li", {}, el("a", { href: `#/c/${it.id}` },
          el("span", { class: "title", text: it.prompt || "(messages)" }),
          el("span", { class: "meta", text: `${it.models.join(", ")} · ${it.status}${it.voted ? " · voted" : ""} · ${fmt.date(it.created_at_ms)}` }))));
      }
    }
    cursors[kind] = page.next_cursor || null;
    btn.hidden = !page.next_cursor;
  } catch (e) {
    list.replaceChildren(el("li", { class: "hint", text: errorText(e) }));
    btn.hidden = true;
  }
}

// ---------------------------------------------------------------- key, theme, routing

const keyDialog = {
  /** @param {string} msg */
  open(msg) {
    const d = $("#key-dialog");
    $("#key-error").hidden = !msg;
    $("#key-error").textContent = msg || "";
    $("#key-button").hidden = false;
    if (!d.open) d.showModal();
    $("#key-input").focus();
  },
};

function setupKey() {
  api.onUnauthorized = (hadKey) => keyDialog.open(hadKey ? "That key was not accepted." : "");
  $("#key-button").hidden = !api.key;
  $("#key-button").addEventListener("click", () => keyDialog.open(""));
  $("#key-form").addEventListener("submit", async (/** @type {SubmitEvent} */ ev) => {
    ev.preventDefault();
    api.setKey($("#key-input").value.trim());
    // Try it before closing the dialog.
    try {
      const resp = await fetch("/v1/models", { headers: api.headers() });
      if (resp.status === 401) { $("#key-error").hidden = false; $("#key-error").textContent = "That key was not accepted."; return; }
    } catch (e) {
      $("#key-error").hidden = false; $("#key-error").textContent = errorText(e); return;
    }
    $("#key-dialog").close();
    $("#key-input").value = "";
    await loadModels();
    route();
  });
  $("#key-forget").addEventListener("click", () => {
    api.setKey("");
    $("#key-input").value = "";
  });
}

function setupTheme() {
  const saved = localStorage.getItem(THEME_STORE);
  const dark = saved ? saved === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  applyTheme(dark ? "dark" : "light");
  $("#theme-button").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem(THEME_STORE, next);
    applyTheme(next);
  });
}

/** @param {string} theme */
function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const b = $("#theme-button");
  b.textContent = theme === "dark" ? "Light" : "Dark";
  b.setAttribute("aria-label", `Switch to ${theme === "dark" ? "light" : "dark"} theme`);
}

let ignoreNextRoute = false;

/** @param {string} name */
function showView(name) {
  for (const v of ["compare", "history", "leaderboard", "evals", "keys"]) $(`#view-${v}`).hidden = v !== name;
  for (const a of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("[data-nav]"))) {
    if (a.dataset.nav === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

function route() {
  if (ignoreNextRoute) { ignoreNextRoute = false; return; }
  notice("");
  const h = location.hash.replace(/^#/, "") || "/";
  const parts = h.split("/").filter(Boolean);
  if (parts[0] === "history") {
    showView("history");
    loadHistory("sessions", false);
    loadHistory("comparisons", false);
  } else if (parts[0] === "leaderboard") {
    showView("leaderboard");
    loadLeaderboard();
  } else if (parts[0] === "evals") {
    showView("evals");
    showEvals(parts[1], catalogue.list).catch((e) => notice(errorText(e)));
  } else if (parts[0] === "keys") {
    showView("keys");
    $("#nk-secret").hidden = true;
    loadKeys(false).catch((e) => notice(errorText(e)));
  } else if (parts[0] === "s" && parts[1]) {
    showView("compare");
    if (!(conv.kind === "session" && conv.id === parts[1])) openSession(parts[1]);
  } else if (parts[0] === "c" && parts[1]) {
    showView("compare");
    if (!(conv.kind === "comparison" && conv.id === parts[1])) openComparison(parts[1]);
  } else {
    showView("compare");
    conv.reset();
    document.title = "llm-compare";
  }
}

/**
 * @param {HTMLTextAreaElement} textarea
 * @param {HTMLFormElement} form
 */
function submitOnCtrlEnter(textarea, form) {
  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
}

document.addEventListener("DOMContentLoaded", async () => {
  setupTheme();
  setupKey();
  $("#setup").addEventListener("submit", startComparison);
  $("#follow-up").addEventListener("submit", sendFollowUp);
  $("#new-button").addEventListener("click", () => { location.hash = "#/"; });
  $("#more-sessions").addEventListener("click", () => loadHistory("sessions", true));
  $("#more-comparisons").addEventListener("click", () => loadHistory("comparisons", true));
  $("#more-keys").addEventListener("click", () => loadKeys(true).catch((e) => notice(errorText(e))));
  $("#key-create").addEventListener("submit", createKey);
  $("#attach").addEventListener("change", async (/** @type {any} */ e) => { await attach([...e.target.files]); e.target.value = ""; });
  $("#prompt").addEventListener("paste", (/** @type {ClipboardEvent} */ e) => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])];
    if (files.length) { e.preventDefault(); attach(files); }
  });
  $("#setup").addEventListener("dragover", (/** @type {DragEvent} */ e) => { e.preventDefault(); });
  $("#setup").addEventListener("drop", (/** @type {DragEvent} */ e) => {
    e.preventDefault();
    attach([...(e.dataTransfer ? e.dataTransfer.files : [])]);
  });
  $("#nk-copy").addEventListener("click", async () => {
    await navigator.clipboard.writeText($("#nk-secret-value").textContent);
    $("#nk-copy").textContent = "Copied";
  });
  submitOnCtrlEnter($("#prompt"), $("#setup"));
  submitOnCtrlEnter($("#follow-prompt"), $("#follow-up"));
  window.addEventListener("hashchange", route);
  await loadModels();
  route();
});
