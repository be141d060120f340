// @ts-check
// The evals view: start a run from an uploaded dataset (POST /v1/evals), watch it row by row
// (its SSE stream), cancel it, list the runs, open one (its rows and summary), download its
// report.

import { api, errorText } from "./api.js";
import { $, announce, el, notice } from "./dom.js";
import { fmt } from "./format.js";
import { EventStream } from "./sse.js";

/** @typedef {import("../../bindings/node/types").EvalEvent} EvalEvent */
/** @typedef {import("../../bindings/node/types").EvalRunView} EvalRunView */
/** @typedef {import("../../bindings/node/types").EvalRunInfo} EvalRunInfo */
/** @typedef {import("../../bindings/node/types").RowReport} RowReport */
/** @typedef {import("../../bindings/node/types").Summary} Summary */
/** @typedef {import("../../bindings/node/types").ModelInfo} ModelInfo */

/** The run on screen: its id, models, stream. */
const shown = {
  /** @type {string | null} */ id: null,
  /** @type {string[]} */ models: [],
  /** @type {EventStream | null} */ stream: null,
  done: 0,
  units: 0,
  spent: 0,
};

let wired = false;

/**
 * Shows the evals view: the form and the runs, and run `id` when given.
 * @param {string | undefined} id
 * @param {ModelInfo[]} catalogue
 */
export async function showEvals(id, catalogue) {
  if (!wired) {
    wired = true;
    fillModels(catalogue);
    $("#ev-form").addEventListener("submit", startRun);
    $("#ev-cancel").addEventListener("click", cancelRun);
    $("#ev-report").addEventListener("click", downloadReport);
  }
  await listRuns();
  if (id && id !== shown.id) await openRun(id);
  if (!id) closeRun();
}

/** @param {ModelInfo[]} catalogue */
function fillModels(catalogue) {
  const usable = catalogue.filter((m) => m.available).map((m) => m.id).sort();
  $("#ev-models").replaceChildren(...usable.map((m) => el("option", { value: m, text: m })));
  $("#ev-judge").replaceChildren(el("option", { value: "", text: "none" }),
    ...usable.map((m) => el("option", { value: m, text: m })));
}

/** @param {SubmitEvent} e */
async function startRun(e) {
  e.preventDefault();
  const err = $("#ev-error");
  err.hidden = true;
  const file = /** @type {HTMLInputElement} */ ($("#ev-file")).files?.[0];
  const models = [.../** @type {HTMLSelectElement} */ ($("#ev-models")).selectedOptions].map((o) => o.value);
  const num = (/** @type {string} */ sel) => {
    const v = /** @type {HTMLInputElement} */ ($(sel)).value;
    return v === "" ? undefined : Number(v);
  };
  if (!file) { showError("dataset", "choose a dataset file (.jsonl or .csv)"); return; }
  /** @type {Record<string, unknown>} */
  const body = {
    dataset: { name: file.name, content: await file.text() },
    models,
    judge: /** @type {HTMLSelectElement} */ ($("#ev-judge")).value || undefined,
    concurrency: num("#ev-concurrency"),
    repeat: num("#ev-repeat"),
    prompt_template: /** @type {HTMLInputElement} */ ($("#ev-template")).value || undefined,
  };
  $("#ev-start").disabled = true;
  try {
    const run = await api.post("/v1/evals", body);
    announce(`Evaluation started: ${run.units} rows`);
    location.hash = `#/evals/${run.run_id}`;
  } catch (x) {
    showError(/** @type {any} */ (x).field, errorText(x));
  } finally {
    $("#ev-start").disabled = false;
  }
}

/**
 * @param {string | undefined} field
 * @param {string} message
 */
function showError(field, message) {
  const err = $("#ev-error");
  err.textContent = field ? `${field}: ${message}` : message;
  err.hidden = false;
}

async function listRuns() {
  const list = $("#ev-runs");
  try {
    /** @type {{ runs: EvalRunInfo[] }} */
    const page = await api.get("/v1/evals?limit=50");
    list.replaceChildren(...page.runs.map((r) => el("li", { "data-run": r.run_id },
      el("a", { href: `#/evals/${r.run_id}` },
        el("span", { class: "title", text: `${r.dataset} · ${r.options.models.join(" vs ")}` }),
        el("span", { class: "meta", text: `${r.rows_done}/${r.units} rows · ${r.status} · ${new Date(r.created_at_ms).toLocaleString()}` })))));
    if (!page.runs.length) list.replaceChildren(el("li", { class: "hint", text: "No runs yet." }));
  } catch (x) {
    list.replaceChildren(el("li", { class: "hint", text: errorText(x) }));
  }
}

function closeRun() {
  if (shown.stream) shown.stream.close();
  shown.id = null;
  shown.stream = null;
  $("#ev-run").hidden = true;
}

/** @param {string} id */
async function openRun(id) {
  closeRun();
  /** @type {EvalRunView} */
  let view;
  try {
    view = await api.get(`/v1/evals/${id}`);
  } catch (x) {
    notice(errorText(x));
    return;
  }
  shown.id = id;
  shown.models = view.run.options.models;
  shown.units = view.run.units;
  shown.done = 0;
  shown.spent = 0;
  $("#ev-run").hidden = false;
  $("#ev-run-title").textContent = `${view.run.dataset} · ${shown.models.join(" vs ")}`;
  $("#ev-rows thead").replaceChildren(el("tr", {}, el("th", { scope: "col", text: "Row" }),
    el("th", { scope: "col", text: "Category" }),
    ...shown.models.map((m) => el("th", { scope: "col", text: m }))));
  $("#ev-rows tbody").replaceChildren();
  $("#ev-summary").replaceChildren();
  for (const r of view.rows) addRow(r);
  if (view.run.summary) showSummary(view.run.summary);
  setStatus(view.run.status);
  if (view.run.status === "running") {
    // From after the rows already drawn: `start` (1) and one event per row.
    shown.stream = new EventStream(`/v1/evals/${id}/stream`, (/** @type {EvalEvent} */ e) => onEvent(e));
    shown.stream.lastSeq = 1 + view.rows.length;
    shown.stream.start();
  }
}

/** @param {EvalEvent} e @returns {boolean} the run ended */
function onEvent(e) {
  switch (e.type) {
    case "row": addRow(e); return false;
    case "summary": showSummary(e); setStatus("completed"); listRuns(); return true;
    case "cancelled": setStatus("cancelled"); listRuns(); return true;
    default: return false;
  }
}

/** @param {string} status */
function setStatus(status) {
  $("#ev-run").dataset.status = status;
  $("#ev-cancel").hidden = status !== "running";
  const bar = /** @type {HTMLProgressElement} */ ($("#ev-progress"));
  bar.max = Math.max(shown.units, 1);
  bar.value = shown.done;
  $("#ev-status").textContent = `${status} · ${shown.done}/${shown.units} rows · spent ${fmt.usd(shown.spent)}`;
}

/** @param {RowReport} r */
function addRow(r) {
  shown.done += 1;
  shown.spent += r.results.reduce((s, m) => s + m.cost_usd, 0) + (r.judge ? r.judge.cost_usd : 0);
  $("#ev-rows tbody").append(el("tr", { "data-row": r.row_id },
    el("td", {}, el("a", { href: `#/c/${r.comparison_id}`, text: r.row_id + (r.repeat ? ` #${r.repeat + 1}` : "") })),
    el("td", { text: r.category || "" }),
    ...r.results.map((m) => el("td", {
      class: m.passed ? "ev-pass" : "ev-fail",
      title: m.error || m.assertions.filter((a) => !a.passed).map((a) => `${a.type}: ${a.reason}`).join("; "),
      text: `${m.passed ? "✓" : "✗"} ${fmt.ms(m.latency_ms)}`,
    }))));
  if ($("#ev-run").dataset.status === "running") setStatus("running");
}

/** @param {Summary} s */
function showSummary(s) {
  const better = s.better.map((b) => el("li", { text: `${b.better} is better than ${b.than} (exact McNemar p = ${b.p_value.toFixed(4)})` }));
  $("#ev-summary").replaceChildren(
    el("table", {},
      el("caption", { class: "sr-only", text: "Each model's pass rate, interval, judge rating, cost and latency" }),
      el("thead", {}, el("tr", {}, ...["Model", "Pass rate", "95% interval", "Judge rating", "Mean cost", "Mean latency"]
        .map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...s.models.map((m) => el("tr", { "data-model": m.model },
        el("td", { text: m.model }),
        el("td", { class: "ev-rate", text: `${(m.pass_rate * 100).toFixed(1)}%` }),
        el("td", { text: `${(m.pass_ci[0] * 100).toFixed(1)}–${(m.pass_ci[1] * 100).toFixed(1)}%` }),
        el("td", { text: m.judge_rating == null ? "—" : m.judge_rating.toFixed(2) }),
        el("td", { text: fmt.usd(m.mean_cost_usd) }),
        el("td", { text: fmt.ms(m.mean_latency_ms) }))))),
    better.length ? el("ul", {}, ...better) : el("p", { class: "hint", text: "No model passes significantly more rows than another." }),
    el("p", { class: "hint", text: `Models ${fmt.usd(s.cost_usd)} · judge ${fmt.usd(s.judge_cost_usd)}` }));
}

async function cancelRun() {
  if (!shown.id) return;
  try {
    await api.del(`/v1/evals/${shown.id}`);
  } catch (x) {
    notice(errorText(x));
  }
}

// The report is fetched with the key and saved as a file (a link could not send the key).
async function downloadReport() {
  if (!shown.id) return;
  try {
    const resp = await fetch(`/v1/evals/${shown.id}/report`, { headers: api.headers() });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const url = URL.createObjectURL(new Blob([await resp.text()], { type: "text/html" }));
    const a = el("a", { href: url, download: `eval-${shown.id}.html` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (x) {
    notice(errorText(x));
  }
}
