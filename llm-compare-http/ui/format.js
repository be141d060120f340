// @ts-check
// Numbers, money, dates and JSON as the UI shows them. Pure.

export const fmt = {
  /** @param {number | null | undefined} v */
  ms(v) { return v == null ? "—" : v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(2)} s`; },
  /** @param {number | null | undefined} v */
  usd(v) {
    if (v == null) return "—";
    if (v === 0) return "$0";
    if (v < 0.0001) return "$" + v.toExponential(1);
    return "$" + v.toFixed(v < 0.01 ? 5 : 4);
  },
  /** @param {number | null | undefined} v */
  num(v) { return v == null ? "—" : Number(v).toLocaleString("en-US"); },
  /** @param {number} ms */
  date(ms) { return new Date(ms).toLocaleString(); },
};

/** What each cost `source` means, for the cost badge's tooltip. */
export const COST_SOURCES = {
  provider: "charged: reported by the provider",
  price_table: "price table × reported usage",
  config: "configured price × reported usage",
  estimated: "price × estimated usage (tokenizer)",
};

/**
 * `text` as indented JSON, or null when it is not JSON.
 * @param {string} text
 * @returns {string | null}
 */
export function prettyJson(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return null; }
}

/**
 * A round axis step (1, 2 or 5 × a power of ten) at least `raw`.
 * @param {number} raw
 */
export function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

/**
 * A key's limits, in words.
 * @param {{ rpm?: number | null, max_active?: number | null, budget_usd?: number | null,
 *   period?: string | null, expires_at_ms?: number | null, tools?: string[] | null }} k
 */
export function limitsText(k) {
  const parts = [];
  if (k.tools != null) parts.push(k.tools.length ? `tools ${k.tools.join(" ")}` : "no tools");
  if (k.rpm) parts.push(`${k.rpm}/min`);
  if (k.max_active) parts.push(`${k.max_active} at once`);
  if (k.budget_usd != null) parts.push(`${fmt.usd(k.budget_usd)} per ${k.period || "month"}`);
  if (k.expires_at_ms) parts.push(`until ${fmt.date(k.expires_at_ms)}`);
  return parts.join(" · ") || "none";
}

/**
 * The capability a part needs (`vision` for images, `pdf` for PDFs), or null.
 * @param {{ type: string, media_type?: string }} part
 * @returns {"vision" | "pdf" | null}
 */
export function needs(part) {
  return part.type === "image" ? "vision" : part.media_type === "application/pdf" ? "pdf" : null;
}
