// @ts-check
// The leaderboard view: ratings with their 95 % intervals, as a table and a chart.

import { api, errorText } from "./api.js";
import { $, el } from "./dom.js";
import { fmt, niceStep } from "./format.js";

/** @typedef {import("../../bindings/node/types").Leaderboard} Leaderboard */
/** @typedef {import("../../bindings/node/types").Standing} Standing */

const SVG = "http://www.w3.org/2000/svg";

/**
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 */
const svg = (tag, attrs = {}, text) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
};

/** The board's query from the filters: votes' source, category, style control. */
function query() {
  const q = new URLSearchParams();
  const source = /** @type {HTMLSelectElement} */ ($("#lb-source")).value;
  const category = /** @type {HTMLSelectElement} */ ($("#lb-category")).value;
  if (source !== "human") q.set("source", source);
  if (category) q.set("category", category);
  if (/** @type {HTMLInputElement} */ ($("#lb-style")).checked) q.set("style_control", "true");
  const s = q.toString();
  return s ? `?${s}` : "";
}

let wired = false;

export async function loadLeaderboard() {
  const chart = $("#lb-chart");
  const body = $("#lb-table tbody");
  if (!wired) {
    wired = true;
    for (const id of ["#lb-source", "#lb-category", "#lb-style"]) $(id).addEventListener("change", () => loadLeaderboard());
  }
  try {
    /** @type {Leaderboard} */
    const lb = await api.get(`/v1/leaderboard${query()}`);
    const select = /** @type {HTMLSelectElement} */ ($("#lb-category"));
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "", text: "All" }),
      ...lb.categories.map((c) => el("option", { value: c, text: c })));
    select.value = lb.categories.includes(chosen) ? chosen : "";
    const agreement = lb.agreement
      ? ` Judges agree with people on ${(lb.agreement.rate * 100).toFixed(0)} % of ${fmt.num(lb.agreement.pairs)} pairs (κ ${lb.agreement.kappa.toFixed(2)}).`
      : "";
    const style = lb.style
      ? ` Style control: length ${lb.style.length.toFixed(2)}, markdown ${lb.style.markdown.toFixed(2)} (log-odds per s.d.).`
      : "";
    $("#lb-summary").textContent = (lb.votes
      ? `${fmt.num(lb.votes)} vote${lb.votes === 1 ? "" : "s"} over ${lb.models.length} models.`
      : "No votes yet: vote on a comparison and its models appear here.") + agreement + style;
    body.replaceChildren(...lb.models.map((m) => el("tr", { "data-model": m.model },
      el("td", { text: String(m.rank) }), el("th", { scope: "row", text: m.model }),
      el("td", { class: "rating", text: m.rating.toFixed(0) }),
      el("td", { text: `${m.ci_low.toFixed(0)} – ${m.ci_high.toFixed(0)}` }),
      el("td", { text: m.elo.toFixed(0) }),
      el("td", { text: `${m.wins} / ${m.losses} / ${m.ties}` }),
      el("td", { class: "votes", text: fmt.num(m.votes) }),
      el("td", { text: fmt.ms(m.mean_ttft_ms) }),
      el("td", { text: fmt.usd(m.mean_cost_usd) }))));
    chart.replaceChildren(drawChart(lb.models));
  } catch (e) {
    $("#lb-summary").textContent = errorText(e);
    body.replaceChildren();
    chart.replaceChildren();
  }
}

/** @param {Standing[]} models */
function drawChart(models) {
  const rowH = 30;
  const left = 190;
  const right = 30;
  const width = 820;
  const height = Math.max(1, models.length) * rowH + 40;
  const s = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Ratings with 95% intervals" });
  if (!models.length) return s;
  let lo = Math.min(...models.map((m) => m.ci_low));
  let hi = Math.max(...models.map((m) => m.ci_high));
  if (hi - lo < 50) { lo -= 25; hi += 25; }
  const pad = (hi - lo) * 0.05;
  lo -= pad; hi += pad;
  const x = (/** @type {number} */ v) => left + ((v - lo) / (hi - lo)) * (width - left - right);
  const step = niceStep((hi - lo) / 6);
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) {
    s.append(svg("line", { x1: x(t), x2: x(t), y1: 10, y2: height - 25, class: "axis", "stroke-dasharray": "2 4" }));
    s.append(svg("text", { x: x(t), y: height - 8, "text-anchor": "middle", class: "tick" }, String(Math.round(t))));
  }
  models.forEach((m, i) => {
    const y = 24 + i * rowH;
    const colour = `var(--m${i % 8})`;
    s.append(svg("text", { x: left - 10, y: y + 4, "text-anchor": "end" }, m.model));
    s.append(svg("line", { x1: x(m.ci_low), x2: x(m.ci_high), y1: y, y2: y, stroke: colour, "stroke-width": 3, "stroke-linecap": "round" }));
    const dot = svg("circle", { cx: x(m.rating), cy: y, r: 6, fill: colour });
    dot.append(svg("title", {}, `${m.model}: ${m.rating.toFixed(0)} (${m.ci_low.toFixed(0)}–${m.ci_high.toFixed(0)})`));
    s.append(dot);
  });
  return s;
}
