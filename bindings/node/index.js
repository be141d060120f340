'use strict'
// llm-compare for Node.js: one prompt to N models at once, every model's tokens streamed back
// as one event stream — the same events the server sends over SSE (docs/events.md). The work
// happens in Rust (the llm-compare engine) on its own threads; the event loop never waits.

const { join } = require('node:path')
const { existsSync } = require('node:fs')

function loadNative() {
  const triple = `${process.platform}-${process.arch}${process.platform === 'linux' ? '-gnu' : ''}`
  const local = join(__dirname, `llm-compare.${triple}.node`)
  if (existsSync(local)) return require(local)
  try {
    // A per-platform package (the napi-rs layout), when one is published.
    return require(`llm-compare-${triple}`)
  } catch {
    throw new Error(
      `llm-compare: no native addon for ${triple}; build it with \`npm run build\` in ${__dirname} (needs Rust)`,
    )
  }
}

const native = loadNative()

/** The base of every llm-compare error: `code` (`invalid_request`, `unknown_model`,
 * `rate_limited`, a provider's code, `not_found`, …), `field`, `retryable`, and the HTTP
 * `status` and `retryAfterMs` a server would answer with. */
class LlmCompareError extends Error {
  constructor(message, { code = 'internal', field = null, retryable = false, status = 500, retry_after_ms = null } = {}) {
    super(message)
    this.name = new.target.name
    this.code = code
    this.field = field
    this.retryable = retryable
    this.status = status
    this.retryAfterMs = retry_after_ms
  }
  /** The body `llm-compare serve` answers with: `{error: {code, message, field?}}`. */
  toJSON() {
    const error = { code: this.code, message: this.message }
    if (this.field) error.field = this.field
    return { error }
  }
}
// The subclasses and the class of each code are generated from the core (errors.js).
const generated = require('./errors.js')
const classes = { LlmCompareError }
for (const [name, parent] of generated.CLASSES) {
  if (parent === null) continue
  // A computed key names the class expression: `new X().name` is its class name.
  classes[name] = { [name]: class extends classes[parent] {} }[name]
}

/** The error class for an error code (as errors and `error` events carry it). */
function errorClass(code) {
  return classes[generated.CODES[code]] || LlmCompareError
}

/** The native error (its message is the error as JSON) as an LlmCompareError subclass. */
function convert(e) {
  let info
  try {
    info = JSON.parse(e.message)
  } catch {
    return e
  }
  if (!info || typeof info.code !== 'string') return e
  const Cls = errorClass(info.code)
  return new Cls(info.message, info)
}

/** Calls `f`, converting native errors (thrown or rejected). */
function call(f) {
  try {
    const out = f()
    return out instanceof Promise ? out.catch((e) => Promise.reject(convert(e))) : out
  } catch (e) {
    throw convert(e)
  }
}

/** The exception (not thrown) for an `error` event or a failed `model_result`. */
function errorOf(event) {
  const err = event.type === 'error' ? event : event.error
  if (!err) return null
  const Cls = errorClass(err.code)
  return new Cls(err.message, { code: err.code, field: null, retryable: Boolean(err.retryable), status: null })
}

const encoder = new TextEncoder()

/** One event as an SSE message, byte for byte what `llm-compare serve` sends. */
function formatSSE(json, event) {
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${json}\n\n`
}

/** A web ReadableStream of SSE bytes reading `next()` (event JSON, null at the end);
 * comments keep idle connections alive; cancelling it (the client went away) calls `stop`. */
function sseStream(next, stop, { keepAliveMs = 15000 } = {}) {
  let timer
  return new ReadableStream({
    start(controller) {
      if (keepAliveMs > 0) {
        timer = setInterval(() => controller.enqueue(encoder.encode(': keep-alive\n\n')), keepAliveMs)
      }
    },
    async pull(controller) {
      try {
        const json = await next()
        if (json === null) {
          clearInterval(timer)
          controller.close()
          return
        }
        controller.enqueue(encoder.encode(formatSSE(json, JSON.parse(json))))
      } catch (e) {
        clearInterval(timer)
        controller.error(convert(e))
      }
    },
    cancel() {
      clearInterval(timer)
      stop()
    },
  })
}

/** A running comparison: an async iterable of events ending with `complete`. */
class Comparison {
  #native
  #signal
  #onAbort
  constructor(nativeComparison, signal) {
    this.#native = nativeComparison
    if (signal) {
      this.#signal = signal
      this.#onAbort = () => nativeComparison.cancel()
      if (signal.aborted) nativeComparison.cancel()
      else signal.addEventListener('abort', this.#onAbort, { once: true })
    }
  }
  /** The comparison's id. */
  get requestId() {
    return this.#native.requestId
  }
  /** Its models, by `model_index`. */
  get models() {
    return this.#native.models
  }
  /** Whether `complete` has been read. */
  get finished() {
    return this.#native.finished
  }
  #done() {
    if (this.#signal) this.#signal.removeEventListener('abort', this.#onAbort)
  }
  async *[Symbol.asyncIterator]() {
    let complete = false
    try {
      for (;;) {
        const json = await this.#native.next()
        if (json === null) break
        const event = JSON.parse(json)
        if (event.type === 'complete') complete = true
        yield event
      }
    } finally {
      // `break` out of a for-await, or a throw in its body: the rest is not wanted.
      if (!complete) this.#native.cancel()
      this.#done()
    }
  }
  /** The `complete` event (every model's result, totals, duration). */
  async result() {
    try {
      return JSON.parse(await call(() => this.#native.result()))
    } finally {
      this.#done()
    }
  }
  /** Cancels the upstream calls; unfinished models end `cancelled`. */
  cancel() {
    this.#native.cancel()
  }
  /** The events as SSE bytes for `new Response(comparison.toSSEStream(), {headers})`;
   * the client going away cancels the upstream calls. */
  toSSEStream(options) {
    return sseStream(
      () => this.#native.next(),
      () => this.#native.cancel(),
      options,
    )
  }
}

/** A registered request's events (replayed after `afterSeq`, then live). */
class EventStream {
  #native
  constructor(nativeStream) {
    this.#native = nativeStream
  }
  async *[Symbol.asyncIterator]() {
    for (;;) {
      const json = await this.#native.next()
      if (json === null) return
      yield JSON.parse(json)
    }
  }
  /** SSE bytes (closing it only stops reading: the request keeps running). */
  toSSEStream(options) {
    return sseStream(
      () => this.#native.next(),
      () => {},
      options,
    )
  }
}

function body(input, extra = {}) {
  const { prompt, messages, models = [], system, params, tools, toolChoice, metadata, attachments, responseFormat, maxSteps, toolMode, clientTools, toolTimeoutS } = input
  const out = { models: typeof models === 'string' ? [models] : [...models] }
  if (prompt !== undefined) out.prompt = prompt
  if (messages !== undefined) out.messages = messages
  if (system !== undefined) out.system = system
  if (params !== undefined) out.params = params
  if (tools !== undefined) out.tools = tools
  if (toolChoice !== undefined) out.tool_choice = toolChoice
  if (metadata !== undefined) out.metadata = metadata
  if (attachments !== undefined) out.attachments = attachments
  if (responseFormat !== undefined) out.response_format = responseFormat
  if (maxSteps !== undefined) out.max_steps = maxSteps
  if (toolMode !== undefined) out.tool_mode = toolMode
  if (clientTools !== undefined) out.client_tools = clientTools
  if (toolTimeoutS !== undefined) out.tool_timeout_s = toolTimeoutS
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== null) out[k] = v
  return JSON.stringify(out)
}

function ms(t) {
  if (t === undefined || t === null) return null
  return t instanceof Date ? t.getTime() : t
}

function needOwner(owner) {
  if (typeof owner !== 'string' || owner === '') {
    throw new classes.InvalidRequestError('owner is required', { code: 'invalid_request', field: 'owner' })
  }
  return owner
}

/** A request's JavaScript tools: the body names them; their definitions and one dispatcher
 * go to the engine, which calls it `(name, argsJson)` from its threads. */
function executable(request) {
  const tools = request.tools || []
  const functions = tools.filter((t) => t && typeof t === 'object' && typeof t.execute === 'function')
  if (!functions.length) return { request }
  const byName = new Map(functions.map((t) => [t.name, t]))
  const defs = functions.map((t) => ({
    type: 'function',
    function: { name: t.name, description: t.description, parameters: t.parameters || { type: 'object', properties: {} } },
  }))
  // Each call has an AbortController, aborted when the engine gives the call up (timeout,
  // cancel): `execute(args, { signal })`.
  const controllers = new Map()
  const dispatch = async ([id, name, argsJson]) => {
    const controller = new AbortController()
    controllers.set(id, controller)
    try {
      const value = await byName.get(name).execute(JSON.parse(argsJson), { signal: controller.signal })
      return JSON.stringify({ ok: typeof value === 'string' ? value : JSON.stringify(value ?? '') })
    } catch (e) {
      return JSON.stringify({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) })
    } finally {
      controllers.delete(id)
    }
  }
  const abort = (id) => controllers.get(id)?.abort()
  const named = tools.map((t) => (functions.includes(t) ? t.name : t))
  return { request: { ...request, tools: named }, defs: JSON.stringify(defs), dispatch, abort }
}

/** The llm-compare engine. */
class Engine {
  #native
  /**
   * `config`: a path to a TOML file, TOML text, an object of the same shape, or undefined
   * (llm-compare.toml in the working directory if any). `store`: a SQLite path or
   * `sqlite://…` / `postgres://…` URL (sessions, votes, leaderboard).
   */
  constructor(config, { store, instanceId, maxActivePerOwner } = {}) {
    let kind = 'default'
    let text
    if (config !== undefined && config !== null) {
      if (typeof config === 'object') {
        kind = 'json'
        text = JSON.stringify(config)
      } else if (!config.includes('\n') && (config.endsWith('.toml') || existsSync(config))) {
        kind = 'path'
        text = config
      } else {
        kind = 'toml'
        text = config
      }
    }
    let storeUrl
    if (store !== undefined && store !== null) {
      storeUrl = store.includes('://') || store.startsWith('sqlite:') ? store : `sqlite://${require('node:path').resolve(store)}`
    }
    this.#native = call(
      () => new native.NativeEngine({ kind, text, maxActivePerOwner, storeUrl, instanceId }),
    )
  }
  /** Whether a store is configured. */
  get hasStore() {
    return this.#native.hasStore
  }
  /** Every model: id, provider, context window, prices, available or why not. */
  async models() {
    return JSON.parse(await call(() => this.#native.modelsJson()))
  }
  /** Starts a comparison; `signal` (an AbortSignal) cancels it. */
  compare(request) {
    const { request: r, defs, dispatch, abort } = executable(request)
    const native = call(() => (defs ? this.#native.compare(body(r), defs, dispatch, abort) : this.#native.compare(body(r))))
    return new Comparison(native, request.signal)
  }
  /** Registers and starts a comparison for `owner`; resolves to `{request_id, models,
   * history_trimmed?}` (POST-then-stream; with a store it is recorded first). */
  async submitInfo(request) {
    const owner = needOwner(request.owner)
    const { request: r, defs, dispatch, abort } = executable(request)
    const b = body(r, { session_id: request.sessionId, blind: request.blind || undefined })
    return JSON.parse(await call(() => (defs ? this.#native.submit(b, owner, defs, dispatch, abort) : this.#native.submit(b, owner))))
  }
  /** Like submitInfo, resolving to the request id. */
  async submit(request) {
    return (await this.submitInfo(request)).request_id
  }
  /** The request's events after `afterSeq` (a Last-Event-ID). */
  async stream(requestId, { owner, afterSeq } = {}) {
    return new EventStream(await call(() => this.#native.stream(requestId, needOwner(owner), afterSeq ?? 0)))
  }
  /** Cancels the request; resolves to its status right after. */
  async cancel(requestId, { owner } = {}) {
    return call(() => this.#native.cancel(requestId, needOwner(owner)))
  }
  /** How many of `owner`'s requests are running. */
  active(owner) {
    return this.#native.active(owner)
  }
  /** The request now (`GET /v1/comparisons/{id}`). */
  async snapshot(requestId, { owner } = {}) {
    return JSON.parse(await call(() => this.#native.snapshot(requestId, needOwner(owner))))
  }
  /**
   * An evaluation run (as `llm-compare eval`): every row of `dataset` (a JSONL or CSV file
   * path, or an array of rows) across `models`, answers checked against each row's
   * assertions, pairs judged in both orders by `judge`. An async iterable of
   * `{type: 'start' | 'row' | 'summary', …}`; with a store the run is recorded and `resume`
   * continues one.
   */
  async *evaluate(dataset, { models, owner = 'anonymous', judge, concurrency, repeat, promptTemplate, allowSelfJudge = false, resume } = {}) {
    let name = 'rows.jsonl'
    let text
    if (typeof dataset === 'string') {
      name = dataset
      text = require('node:fs').readFileSync(dataset, 'utf8')
    } else {
      text = dataset.map((r) => JSON.stringify(r) + '\n').join('')
    }
    const options = { models: typeof models === 'string' ? [models] : [...(models ?? [])], allow_self_judge: allowSelfJudge }
    if (judge !== undefined) options.judge = judge
    if (concurrency !== undefined) options.concurrency = concurrency
    if (repeat !== undefined) options.repeat = repeat
    const stream = await call(() =>
      this.#native.evaluate(name, text, JSON.stringify(options), owner, promptTemplate ?? null, resume ?? null),
    )
    for (;;) {
      const json = await call(() => stream.next())
      if (json === null) return
      yield JSON.parse(json)
    }
  }
  /** Answers calls of client-side tools (`action` events): all `results` or none (a
   * `ConflictError` names one whose call is not waiting). Resolves to how many went. */
  async toolResults(requestId, results, { owner } = {}) {
    const answer = JSON.parse(
      await call(() => this.#native.toolResults(requestId, needOwner(owner), JSON.stringify({ results }))),
    )
    return answer.accepted
  }
  /** Records a vote: `winner` is a model_index, 'tie' or 'all_bad'. Needs a store. */
  async vote(requestId, winner, { owner, feedback } = {}) {
    const v = feedback === undefined ? { winner } : { winner, feedback }
    return JSON.parse(await call(() => this.#native.vote(requestId, needOwner(owner), JSON.stringify(v))))
  }
  /** Every owner's votes as a ranking; votes cast in [since, until). Needs a store. */
  async leaderboard({ since, until } = {}) {
    return JSON.parse(await call(() => this.#native.leaderboard(ms(since), ms(until))))
  }
  /** `owner`'s calls, tokens and cost (`GET /v1/usage`), comparisons and chat completions,
   * per `'model'` or `'day'`, in [since, until), with the budget when one applies. Needs a
   * store. */
  async usage({ owner, since, until, groupBy = 'model' } = {}) {
    const query = { group_by: groupBy }
    if (since !== undefined && since !== null) query.from = String(ms(since))
    if (until !== undefined && until !== null) query.to = String(ms(until))
    return JSON.parse(await call(() => this.#native.usage(needOwner(owner), JSON.stringify(query))))
  }
  /** `owner`'s comparisons outside sessions, newest first. Needs a store. */
  async comparisons({ owner, limit, before } = {}) {
    return JSON.parse(await call(() => this.#native.comparisons(needOwner(owner), limit ?? null, before ?? null)))
  }
  /** Starts a session (models and system fixed for every turn). Needs a store. */
  async createSession({ models, owner, title, system }) {
    const b = { models: typeof models === 'string' ? [models] : [...models] }
    if (title !== undefined) b.title = title
    if (system !== undefined) b.system = system
    return JSON.parse(await call(() => this.#native.createSession(JSON.stringify(b), needOwner(owner))))
  }
  /** `owner`'s sessions, newest first. */
  async sessions({ owner, limit, before } = {}) {
    return JSON.parse(await call(() => this.#native.sessions(needOwner(owner), limit ?? null, before ?? null)))
  }
  /** A session with every turn. */
  async session(sessionId, { owner } = {}) {
    return JSON.parse(await call(() => this.#native.session(sessionId, needOwner(owner))))
  }
  /** Deletes a session and its turns. */
  async deleteSession(sessionId, { owner } = {}) {
    await call(() => this.#native.deleteSession(sessionId, needOwner(owner)))
  }
  /** Mints an API key for `user`: `models` glob patterns it may use, `rpm`, `maxActive`,
   * `budgetUsd` per `period` (held against the key alone), `expiresAt`. The answer's `key` is
   * the secret, shown this once; only its digest is stored. Needs a store. */
  async createKey({ user, name, admin, models, rpm, maxActive, budgetUsd, period, expiresAt } = {}) {
    const b = { user }
    const opt = { name, admin, rpm, max_active: maxActive, budget_usd: budgetUsd, period }
    for (const [k, v] of Object.entries(opt)) if (v !== undefined) b[k] = v
    if (models !== undefined) b.models = typeof models === 'string' ? [models] : [...models]
    if (expiresAt !== undefined) b.expires_at = String(ms(expiresAt))
    return JSON.parse(await call(() => this.#native.createKey(JSON.stringify(b))))
  }
  /** A page of keys, newest first (`{data, next_cursor}`; never a secret). */
  async keys({ limit, cursor } = {}) {
    return JSON.parse(await call(() => this.#native.keys(limit ?? null, cursor ?? null)))
  }
  /** Key `keyId` (never its secret). */
  async key(keyId) {
    return JSON.parse(await call(() => this.#native.key(keyId)))
  }
  /** Changes key `keyId` (`name`, `models`, `rpm`, `max_active`, `budget_usd`, `period`,
   * `expires_at`; null clears a limit); every server on the database applies it within a second. */
  async updateKey(keyId, changes) {
    return JSON.parse(await call(() => this.#native.updateKey(keyId, JSON.stringify(changes))))
  }
  /** Revokes key `keyId`: refused within a second by every server on the database. */
  async revokeKey(keyId) {
    return JSON.parse(await call(() => this.#native.revokeKey(keyId)))
  }
  /** Who presents `secret` (`{user, kind, key, budget}`), with the server's own checks:
   * throws `PermissionDeniedError` when it is missing, unknown, expired or revoked. */
  async authenticate(secret) {
    return JSON.parse(await call(() => this.#native.authenticate(secret ?? null)))
  }
  /** `model`'s price in this engine (overrides applied), null if unpriced. */
  price(model) {
    const p = this.#native.priceJson(model)
    return p === null || p === undefined ? null : JSON.parse(p)
  }
  /** What `usage` of `model` costs in this engine. */
  cost(model, usage) {
    return JSON.parse(call(() => this.#native.costJson(model, JSON.stringify(usage))))
  }
}

/** An image or file part for `attachments` (or a message's content list): a path, an
 * `https://` or `data:` URL, or a Buffer; its type is read from the bytes (png, jpeg, gif,
 * webp; PDF; UTF-8 text). Throws `InvalidRequestError` for anything else. */
function attachment(source, { name } = {}) {
  return JSON.parse(
    call(() =>
      Buffer.isBuffer(source) || source instanceof Uint8Array
        ? native.attachmentFromBytes(Buffer.from(source), name ?? null)
        : native.attachmentFromPath(String(source)),
    ),
  )
}

function ofType(part, type, what) {
  if (part.type !== type) {
    throw new classes.InvalidRequestError(`not ${what}: ${part.media_type}`, { code: 'invalid_request', field: 'attachment' })
  }
  return part
}

module.exports = {
  Engine,
  attachment,
  image: (source) => ofType(attachment(source), 'image', 'an image'),
  file: (source, options) => ofType(attachment(source, options), 'file', 'a PDF or a text file'),
  Comparison,
  EventStream,
  ...classes,
  errorOf,
  countTokens: (text, model) => native.countTokens(text, model),
  price: (model) => {
    const p = native.price(model)
    return p === null || p === undefined ? null : JSON.parse(p)
  },
  cost: (model, usage) => JSON.parse(call(() => native.cost(model, JSON.stringify(usage)))),
}
