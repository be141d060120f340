// @ts-check
// Model output as HTML: marked (GFM) with highlight.js for code, sanitized by DOMPurify
// (vendored in ui/vendor/, loaded as classic scripts before the modules).

let ready = false;

/**
 * `text` (markdown) as sanitized HTML; null when the libraries did not load.
 * @param {string} text
 * @returns {string | null}
 */
export function renderMarkdown(text) {
  const { marked, DOMPurify, hljs } = window;
  if (!marked || !DOMPurify) return null;
  if (!ready) {
    marked.use({
      gfm: true,
      breaks: false,
      renderer: {
        /** @param {{ text: string, lang?: string }} token */
        code({ text: code, lang }) {
          const language = (lang || "").trim().split(/\s+/)[0].toLowerCase();
          let html;
          if (language && hljs && hljs.getLanguage(language)) {
            html = hljs.highlight(code, { language, ignoreIllegals: true }).value;
          } else {
            html = code.replace(/[&<>"]/g, (c) => /** @type {Record<string, string>} */ ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
          }
          const cls = language ? ` language-${language.replace(/[^a-z0-9_+-]/g, "")}` : "";
          return `<pre><code class="hljs${cls}">${html}</code></pre>\n`;
        },
      },
    });
    ready = true;
  }
  // Model output is untrusted: sanitized, and the page's CSP forbids inline scripts anyway.
  return DOMPurify.sanitize(marked.parse(text, { async: false }));
}
