// @ts-check
// The keys view: who you are (GET /v1/keys/self) and, for admin keys, minting, listing,
// limiting and revoking API keys.

import { api, errorText } from "./api.js";
import { $, announce, el, notice } from "./dom.js";
import { fmt, limitsText } from "./format.js";

/** @typedef {import("../../bindings/node/types").KeyView} KeyView */

/** @type {string | null} */
let cursor = null;

/** @param {boolean} more */
export async function loadKeys(more) {
  const facts = $("#self-key");
  let me;
  try {
    me = await api.get("/v1/keys/self");
  } catch (e) {
    facts.replaceChildren(el("dd", { text: errorText(e) }));
    return;
  }
  const row = (/** @type {string} */ term, /** @type {string} */ value) => [el("dt", { text: term }), el("dd", { text: value })];
  const k = me.key;
  facts.replaceChildren(
    ...row("User", me.user),
    ...row("Key", k ? `${k.prefix}… (${k.scope})` : me.kind === "open" ? "none needed: this server is open" : "configured on the server"),
    ...(k ? row("Models", k.models.length ? k.models.join(" ") : "every model") : []),
    ...(k ? row("Limits", limitsText(k)) : []),
    ...(me.budget ? row("Budget", `${fmt.usd(me.budget.spent_usd)} spent, ${fmt.usd(me.budget.reserved_usd)} held, ${fmt.usd(me.budget.remaining_usd)} left of ${fmt.usd(me.budget.limit_usd)} this ${me.budget.period}`) : []),
  );
  const admin = !!(k && k.scope === "admin");
  $("#keys-admin").hidden = !admin;
  if (!admin) return;
  const body = $("#keys-table tbody");
  if (!more) { body.replaceChildren(); cursor = null; }
  const q = new URLSearchParams({ limit: "50" });
  if (more && cursor) q.set("cursor", cursor);
  const page = await api.get(`/v1/keys?${q}`);
  for (const key of page.data) body.append(keyRow(key));
  cursor = page.next_cursor || null;
  $("#more-keys").hidden = !page.next_cursor;
}

/** @param {KeyView} k @returns {any} */
function keyRow(k) {
  const tr = el("tr", { "data-key-id": k.id });
  const revoke = el("button", { type: "button", class: "ghost", text: "Revoke", disabled: k.status === "revoked",
    onclick: async () => {
      if (!confirm(`Revoke ${k.prefix}… (${k.user})? Every server refuses it within a second.`)) return;
      try { tr.replaceWith(keyRow(await api.del(`/v1/keys/${k.id}`))); } catch (e) { notice(errorText(e)); }
    } });
  const edit = el("button", { type: "button", class: "ghost", text: "Edit limits", disabled: k.status === "revoked",
    onclick: () => tr.after(editRow(k, tr)) });
  tr.append(
    el("td", {}, el("code", { text: k.prefix + "…" })),
    el("td", { text: k.user }),
    el("td", { text: k.name || "" }),
    el("td", { text: k.scope }),
    el("td", { text: k.models.length ? k.models.join(" ") : "all" }),
    el("td", { class: "limits", text: limitsText(k) }),
    el("td", { class: "status", text: k.status }),
    el("td", { text: k.last_used_at_ms ? fmt.date(k.last_used_at_ms) : "never" }),
    el("td", {}, edit, revoke),
  );
  return tr;
}

/** An inline form under a key's row: its limits, changed with PATCH. */
/** @param {KeyView} k @param {any} tr */
function editRow(k, tr) {
  const num = (/** @type {string} */ v) => (v === "" ? null : Number(v));
  const input = (/** @type {string} */ label, /** @type {unknown} */ value, /** @type {Record<string, string>} */ attrs = {}) => el("label", {}, label + " ", el("input", { value: value ?? "", ...attrs }));
  const models = input("Models", k.models.join(" "), { name: "models" });
  // Tools: empty means none; `*` every one.
  const tools = input("Tools", k.tools == null ? "*" : k.tools.join(" "), { name: "tools" });
  const rpm = input("Requests / min", k.rpm, { name: "rpm", type: "number", min: "1" });
  const active = input("At once", k.max_active, { name: "max_active", type: "number", min: "1" });
  const budget = input("Budget (USD)", k.budget_usd, { name: "budget_usd", type: "number", min: "0", step: "0.01" });
  const error = el("p", { class: "error-text", role: "alert", hidden: true });
  const row = el("tr", { class: "edit-row" });
  const form = el("form", { class: "params", onsubmit: async (/** @type {SubmitEvent} */ ev) => {
    ev.preventDefault();
    const v = (/** @type {string} */ name) => form.querySelector(`[name=${name}]`).value.trim();
    const changes = { models: v("models") ? v("models").split(/[\s,]+/) : null,
      tools: v("tools") === "*" ? null : v("tools") ? v("tools").split(/[\s,]+/) : [], rpm: num(v("rpm")),
      max_active: num(v("max_active")), budget_usd: num(v("budget_usd")) };
    try {
      const updated = await api.patch(`/v1/keys/${k.id}`, changes);
      tr.replaceWith(keyRow(updated));
      row.remove();
    } catch (e) { error.hidden = false; error.textContent = errorText(e); }
  } }, models, tools, rpm, active, budget,
  el("button", { type: "submit", class: "primary", text: "Save" }),
  el("button", { type: "button", class: "ghost", text: "Cancel", onclick: () => row.remove() }), error);
  row.append(el("td", { colspan: "9" }, form));
  return row;
}

/** @param {SubmitEvent} ev */
export async function createKey(ev) {
  ev.preventDefault();
  const v = (/** @type {string} */ id) => $(id).value.trim();
  /** @type {Record<string, unknown>} */
  const body = { user: v("#nk-user"), admin: $("#nk-admin").checked };
  if (v("#nk-name")) body.name = v("#nk-name");
  if (v("#nk-models")) body.models = v("#nk-models").split(/[\s,]+/);
  if (v("#nk-tools")) body.tools = v("#nk-tools").split(/[\s,]+/);
  if (v("#nk-rpm")) body.rpm = Number(v("#nk-rpm"));
  if (v("#nk-active")) body.max_active = Number(v("#nk-active"));
  if (v("#nk-budget")) { body.budget_usd = Number(v("#nk-budget")); body.period = v("#nk-period"); }
  if (v("#nk-expires")) body.expires_at = v("#nk-expires");
  const error = $("#nk-error");
  try {
    const created = await api.post("/v1/keys", body);
    error.hidden = true;
    $("#nk-secret-value").textContent = created.key;
    $("#nk-secret").hidden = false;
    $("#key-create").reset();
    $("#keys-table tbody").prepend(keyRow(created));
    announce(`Key created for ${created.user}: copy it now, it is shown once.`);
  } catch (e) {
    error.hidden = false;
    error.textContent = errorText(e);
  }
}
