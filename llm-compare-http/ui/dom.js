// @ts-check
// DOM helpers shared by the views.

/**
 * The first element matching `sel` (views look up elements the page always has).
 * @param {string} sel
 * @param {ParentNode} [root]
 * @returns {any}
 */
export const $ = (sel, root = document) => root.querySelector(sel);

/**
 * An element with attributes (`class`, `text`, `on<event>` handlers, others as attributes;
 * false/null/undefined left out) and children.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node | string | null | undefined)} children
 * @returns {any}
 */
export const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
};

/** Column letters, by `model_index`. */
export const LETTERS = "ABCDEFGH";

/**
 * Shows `msg` in the page's notice bar (hidden when empty).
 * @param {string} [msg]
 */
export function notice(msg) {
  const n = $("#notice");
  n.textContent = msg || "";
  n.hidden = !msg;
}

/**
 * Says `msg` to screen readers.
 * @param {string} msg
 */
export function announce(msg) {
  $("#announce").textContent = msg;
}
