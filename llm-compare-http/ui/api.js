// @ts-check
// The server's public API, as the page calls it: JSON in and out, the key as a bearer token,
// errors as ApiError (status, code, the field named by the server).

const KEY_STORE = "llm-compare.key";

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {any} body
   */
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    /** @type {string} */
    this.code = err.code || "http_" + status;
    /** @type {string | undefined} */
    this.field = err.field;
  }
}

export const api = {
  // (No localStorage outside a browser: the unit tests import this module under Node.)
  key: (typeof localStorage === "undefined" ? null : localStorage.getItem(KEY_STORE)) || "",
  /** Called on a 401 (the page asks for a key). @type {(hadKey: boolean) => void} */
  onUnauthorized: () => {},
  /** @param {string} key */
  setKey(key) {
    this.key = key;
    if (key) localStorage.setItem(KEY_STORE, key); else localStorage.removeItem(KEY_STORE);
  },
  /**
   * @param {Record<string, string>} [extra]
   * @returns {Record<string, string>}
   */
  headers(extra = {}) {
    const h = { ...extra };
    if (this.key) h.Authorization = "Bearer " + this.key;
    return h;
  },
  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @returns {Promise<any>}
   */
  async call(method, path, body) {
    /** @type {RequestInit & { headers: Record<string, string> }} */
    const opts = { method, headers: this.headers() };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path, opts);
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (resp.status === 401) this.onUnauthorized(!!this.key);
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  },
  /** @param {string} path */
  get(path) { return this.call("GET", path); },
  /** @param {string} path @param {unknown} body */
  post(path, body) { return this.call("POST", path, body); },
  /** @param {string} path */
  del(path) { return this.call("DELETE", path); },
  /** @param {string} path @param {unknown} body */
  patch(path, body) { return this.call("PATCH", path, body); },
  /**
   * A stored attachment's bytes as a data: URL (an <img> cannot send the key).
   * @param {string} id
   * @param {number} index
   * @returns {Promise<string>}
   */
  async attachmentUrl(id, index) {
    const resp = await fetch(`/v1/comparisons/${encodeURIComponent(id)}/attachments/${index}`, { headers: this.headers() });
    if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
    const blob = await resp.blob();
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onerror = () => reject(reader.error);
      reader.onload = () => resolve(String(reader.result));
      reader.readAsDataURL(blob);
    });
  },
};

/**
 * An error as the page says it.
 * @param {unknown} e
 */
export function errorText(e) {
  if (e instanceof ApiError) {
    return e.field ? `${e.message} (field: ${e.field})` : e.message;
  }
  return "Cannot reach the server: " + (e instanceof Error ? e.message : String(e));
}

/** @type {Promise<{store: boolean, budgets: boolean, registry: string}> | null} */
let featuresPromise = null;

/** What the server was set up with (`GET /health`), asked once. */
export function serverFeatures() {
  if (!featuresPromise) {
    featuresPromise = fetch("/health", { cache: "no-store" })
      .then((r) => r.json())
      .then((h) => h.features)
      .catch(() => {
        featuresPromise = null;
        return { store: false, budgets: false, registry: "memory" };
      });
  }
  return featuresPromise;
}
