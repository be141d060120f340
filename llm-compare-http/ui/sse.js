// @ts-check
// Server-sent events over fetch. EventSource cannot send an Authorization header, so the
// stream is read with fetch and framed here; on a drop it reconnects with Last-Event-ID and
// the server resumes after it.

import { api, ApiError } from "./api.js";

/**
 * One SSE block's `id` and JSON `data` (null: a comment, keep-alive, or not JSON).
 * @param {string} block
 * @returns {{ id: string | undefined, data: any } | null}
 */
export function parseSse(block) {
  let data = "";
  let id;
  let any = false;
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") { data += (any ? "\n" : "") + value; any = true; }
    else if (field === "id") id = value;
  }
  if (!any) return null;
  try { return { id, data: JSON.parse(data) }; } catch { return null; }
}

/** Cuts a stream of text, however it is chunked, into SSE blocks. Pure. */
export class SseFramer {
  constructor() { this.buf = ""; }
  /**
   * The blocks completed by `text`.
   * @param {string} text
   * @returns {string[]}
   */
  push(text) {
    // CRLF and CR line ends become LF; a CR at the end may be the first half of a CRLF.
    this.buf += text;
    const tail = this.buf.endsWith("\r") ? "\r" : "";
    const body = (tail ? this.buf.slice(0, -1) : this.buf).replace(/\r\n?/g, "\n");
    const blocks = body.split("\n\n");
    this.buf = /** @type {string} */ (blocks.pop()) + tail;
    return blocks;
  }
}

export class EventStream {
  /**
   * @param {string} url
   * @param {(data: any) => boolean} onEvent true: the stream is done
   * @param {{ onOpen?: () => void, onDrop?: (n: number) => void, onFatal?: (e: ApiError) => void }} [hooks]
   */
  constructor(url, onEvent, hooks = {}) {
    this.url = url;
    this.onEvent = onEvent;
    this.hooks = hooks;
    this.lastSeq = 0;
    this.closed = false;
    this.reconnects = 0;
    /** @type {AbortController | null} */
    this.controller = null;
  }

  start() { this.loop(); return this; }

  close() {
    this.closed = true;
    if (this.controller) this.controller.abort();
  }

  async loop() {
    let delay = 250;
    while (!this.closed) {
      let progressed = false;
      try {
        this.controller = new AbortController();
        const headers = api.headers({ Accept: "text/event-stream" });
        if (this.lastSeq > 0) headers["Last-Event-ID"] = String(this.lastSeq);
        const resp = await fetch(this.url, { headers, signal: this.controller.signal, cache: "no-store" });
        if (resp.status === 401) api.onUnauthorized(false);
        // 204: finished, and every event was seen already.
        if (resp.status === 204) { this.closed = true; return; }
        if (!resp.ok || !resp.body) {
          let body = null;
          try { body = await resp.json(); } catch { body = null; }
          const err = new ApiError(resp.status, body);
          // 4xx other than 429 will not change by retrying.
          if (resp.status >= 400 && resp.status < 500 && resp.status !== 429) {
            this.closed = true;
            if (this.hooks.onFatal) this.hooks.onFatal(err);
            return;
          }
          throw err;
        }
        if (this.hooks.onOpen) this.hooks.onOpen();
        const reader = resp.body.getReader();
        const decoder = new TextDecoder();
        const framer = new SseFramer();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const block of framer.push(decoder.decode(value, { stream: true }))) {
            const ev = parseSse(block);
            if (!ev) continue;
            if (ev.id !== undefined) this.lastSeq = Number(ev.id);
            progressed = true;
            delay = 250;
            if (this.onEvent(ev.data)) { this.closed = true; return; }
          }
        }
      } catch (e) {
        if (this.closed) return;
      }
      if (this.closed) return;
      // The stream ended before `complete`: a dropped connection or a server going away.
      this.reconnects += 1;
      if (this.hooks.onDrop) this.hooks.onDrop(this.reconnects);
      await new Promise((r) => setTimeout(r, progressed ? 100 : delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}
