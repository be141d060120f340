// TypeScript declarations of the wrapper (index.js). The data types — events, request
// pieces, results — are generated from the Rust types into types.d.ts.

import type {
  Complete,
  ComparisonSummary,
  Content,
  CreatedKey,
  ErrorCode,
  Event,
  KeyPage,
  KeyView,
  Leaderboard,
  Message,
  ModelInfo,
  ModelResult,
  Params,
  Part,
  ResponseFormat,
  PriceSummary,
  RequestStatus,
  SelfView,
  SessionDetail,
  SessionSummary,
  Snapshot,
  Submitted,
  Tool,
  ToolChoice,
  Usage,
  UsageReport,
  GroupBy,
  Cost,
  VoteBody,
  Winner,
} from './types'

export * from './types'

/** One event of a comparison's stream (the shared schema: SSE, CLI `--json`, Python). */
export type ComparisonEvent = Event
/** The events by their `type` tag, e.g. `EventOf<'response_chunk'>`. */
export type EventOf<T extends ComparisonEvent['type']> = Extract<ComparisonEvent, { type: T }>

/** The base of every llm-compare error. */
export class LlmCompareError extends Error {
  constructor(
    message: string,
    info?: { code?: string; field?: string | null; retryable?: boolean; status?: number | null; retry_after_ms?: number | null },
  )
  /** Machine-readable code (`invalid_request`, `unknown_model`, `rate_limited`, a provider
   * code such as `timeout` or `server`, `not_found`, …). */
  readonly code: ErrorCode | (string & {})
  /** The request field at fault, for `invalid_request`. */
  readonly field: string | null
  /** Whether trying again may help. */
  readonly retryable: boolean
  /** The HTTP status `llm-compare serve` answers this error with (400, 404, 429, 502, …);
   * null for one made from an event by `errorOf`. */
  readonly status: number | null
  /** When to try again, for `rate_limited`. */
  readonly retryAfterMs: number | null
  /** The body `llm-compare serve` answers with, for `Response.json(err, {status: err.status})`. */
  toJSON(): { error: { code: string; message: string; field?: string } }
}
// InvalidRequestError, UnknownModelError, …: generated from the core's error codes.
export * from './errors'

/** The error (not thrown) an `error` event or a failed `model_result` stands for. */
export function errorOf(event: ComparisonEvent | ModelResult): LlmCompareError | null

/** What to compare: a prompt (or messages) and the models. */
export interface CompareInput {
  /** The user's message (or give `messages`). */
  prompt?: string
  /** The conversation, ending with the user's message. */
  messages?: Message[]
  /** Models, `provider/model`, 1–8 (e.g. `sim/echo`, `openai/gpt-4o-mini`). */
  models: string | string[]
  /** A system prompt for every model. */
  system?: string
  /** Generation parameters. */
  params?: Params
  /** Tools the models may call (OpenAI function format; a call ends the answer), or the name
   * of one of the configured tools (`[tools.*]`: executed in each model's own loop). */
  tools?: Array<Tool | string>
  /** Whether and which tool the models must call. */
  toolChoice?: ToolChoice
  /** Images and files sent with `prompt` (see `image`, `file`, `attachment`). */
  attachments?: Part[]
  /** The answers' shape; each result then says whether its answer is valid (`structured`). */
  responseFormat?: ResponseFormat
  /** Most steps of each model's tool loop (default 8), with executable tools. */
  maxSteps?: number
  /** `shared`: each distinct tool call executed once, replayed to the other models. */
  toolMode?: 'independent' | 'shared'
  /** Tools the caller carries out: each call is an `action` event, answered with
   * `toolResults` (or `POST …/tool_results`) within the tool timeout. */
  clientTools?: Tool[]
  /** Seconds each tool call may take (default 30; 1–3600). */
  toolTimeoutS?: number
}

/** A dataset row (docs/evals.md). */
export interface EvalRow {
  id?: string | number
  prompt?: string
  messages?: Message[]
  system?: string
  category?: string
  expected?: string
  vars?: Record<string, string | number | boolean>
  assert?: Array<{ type: string; value?: unknown }>
}

/** Options of `evaluate`. */
export interface EvalOptions {
  /** The models compared on every row. */
  models: string[]
  /** Whose run (default `anonymous`). */
  owner?: string
  /** Grades `llm_rubric` assertions and judges every pair in both orders. */
  judge?: string
  /** Rows at once (default 4). */
  concurrency?: number
  /** Runs of each row (default 1). */
  repeat?: number
  /** Each row's prompt from its variables: `"… {{var}} …"`. */
  promptTemplate?: string
  /** Let the judge judge rows that include its own model. */
  allowSelfJudge?: boolean
  /** Continue this run (its id, from its `start` event). */
  resume?: string
}

/** An evaluation run's events. */
export type EvalEvent =
  | { type: 'start'; run_id: string; units: number; done: number }
  | ({ type: 'row' } & Record<string, unknown>)
  | ({ type: 'summary'; run_id: string; rows: number } & Record<string, unknown>)

/** A client-side tool's result (`toolResults`). */
export interface ClientToolResult {
  /** The `action` event's `model_index`. */
  model_index: number
  /** The `action` event's `call_id`. */
  call_id: string
  /** The result: text, or parts. */
  content: Content
  /** Whether it is an error the model should see as one. */
  is_error?: boolean
}

/** A JavaScript function as a tool, executed in each model's own loop. */
export interface ExecutableTool {
  /** Its name as the models see it. */
  name: string
  /** What it does, for the models. */
  description: string
  /** JSON Schema of its arguments (an object). */
  parameters: Record<string, unknown>
  /** Runs it (plain or async); a string is the result, other values go as JSON; a thrown
   * error is an error result the model sees. `signal` aborts when the call is given up (its
   * timeout, or the comparison cancelled). */
  execute(args: any, options: { signal: AbortSignal }): unknown
}

export interface CompareOptions extends Omit<CompareInput, 'tools'> {
  /** As in `CompareInput`, plus JavaScript functions executed in each model's loop. */
  tools?: Array<Tool | string | ExecutableTool>
  /** Aborting it cancels the upstream calls; unfinished models end `cancelled`. */
  signal?: AbortSignal
}

export interface SubmitOptions extends Omit<CompareInput, 'models' | 'tools'> {
  /** As in `CompareOptions`: JavaScript functions are executed in each model's loop. */
  tools?: Array<Tool | string | ExecutableTool>
  /** Models (may be omitted with `sessionId`: the session's). */
  models?: string | string[]
  /** Whose request it is (every registry and store call is scoped to an owner). */
  owner: string
  /** Your own data, returned in snapshots. */
  metadata?: unknown
  /** The session this is the next turn of (needs a store). */
  sessionId?: string
  /** Hide model names until the vote (needs a store). */
  blind?: boolean
}

export interface SSEOptions {
  /** Milliseconds between `: keep-alive` comments (0: none). Default 15000. */
  keepAliveMs?: number
}

/** A running comparison: its events, ending with `complete`. Leaving a `for await` early
 * cancels it. */
export class Comparison implements AsyncIterable<ComparisonEvent> {
  private constructor()
  /** The comparison's id. */
  readonly requestId: string
  /** Its models, by `model_index`. */
  readonly models: string[]
  /** Whether `complete` has been read. */
  readonly finished: boolean
  [Symbol.asyncIterator](): AsyncIterator<ComparisonEvent>
  /** Waits for the end: the `complete` event. */
  result(): Promise<Complete>
  /** Cancels the upstream calls. */
  cancel(): void
  /** The events as SSE bytes (`id`, `event`, `data` as `llm-compare serve` sends them), for
   * `new Response(comparison.toSSEStream(), {headers})`; the client going away cancels it. */
  toSSEStream(options?: SSEOptions): ReadableStream<Uint8Array>
}

/** A registered request's events, replayed after `afterSeq` and then live. */
export class EventStream implements AsyncIterable<ComparisonEvent> {
  private constructor()
  [Symbol.asyncIterator](): AsyncIterator<ComparisonEvent>
  /** SSE bytes; closing it stops reading only (the request keeps running). */
  toSSEStream(options?: SSEOptions): ReadableStream<Uint8Array>
}

export interface EngineOptions {
  /** Sessions, votes and the leaderboard: a SQLite file path, `sqlite://…` or
   * `postgres://…`. Comparisons are recorded before they are streamed. */
  store?: string
  /** A stable name for this process: comparisons it left running are marked `interrupted`
   * when it starts again. Default: unique per process. */
  instanceId?: string
  /** Most running requests per owner (`submit`). */
  maxActivePerOwner?: number
}

/** Configuration as `llm-compare.toml` has it: providers, models, sim timings, prices. */
export type EngineConfig = Record<string, unknown>

/** Token counts to price: input and output, optionally cached and reasoning ones. */
export type UsageInput = Pick<Usage, 'input_tokens' | 'output_tokens'> & Partial<Usage>

/** A time as a Date or Unix milliseconds. */
export type Instant = Date | number

export interface Owned {
  owner: string
}

export interface PageOptions extends Owned {
  /** 1–100, default 20. */
  limit?: number
  /** The last id of the previous page. */
  before?: string
}

/** The llm-compare engine: providers and models from the configuration, comparisons, and
 * with a store sessions, votes and the leaderboard. */
export class Engine {
  /**
   * @param config a path to a TOML file, TOML text, an object of the same shape, or nothing
   * (`llm-compare.toml` in the working directory if there is one, else the defaults: the
   * simulated models, plus each provider whose API key is in the environment).
   */
  constructor(config?: string | EngineConfig | null, options?: EngineOptions)
  /** Whether a store is configured. */
  readonly hasStore: boolean
  /** Every model: id, provider, context window, prices, available or why not. */
  models(): Promise<ModelInfo[]>
  /** Starts a comparison. Throws InvalidRequestError / UnknownModelError at once. */
  compare(request: CompareOptions): Comparison
  /** Registers and starts a comparison for `owner` (POST-then-stream). */
  submitInfo(request: SubmitOptions): Promise<Submitted>
  /** Like submitInfo, resolving to the request id. */
  submit(request: SubmitOptions): Promise<string>
  /** The request's events after `afterSeq` (a `Last-Event-ID`). */
  stream(requestId: string, options: Owned & { afterSeq?: number }): Promise<EventStream>
  /** Cancels the request; resolves to its status right after. */
  cancel(requestId: string, options: Owned): Promise<RequestStatus>
  /** How many of `owner`'s requests are running. */
  active(owner: string): number
  /** The request now, from the registry or the store. */
  snapshot(requestId: string, options: Owned): Promise<Snapshot>
  /** Answers calls of client-side tools: all `results` or none (a `ConflictError` names one
   * whose call is not waiting); resolves to how many went. */
  toolResults(requestId: string, results: ClientToolResult[], options: Owned): Promise<number>
  /** An evaluation run over a dataset (a JSONL/CSV path, or rows): its start, each finished
   * row, then the summary (see docs/evals.md). */
  evaluate(dataset: string | EvalRow[], options: EvalOptions): AsyncIterable<EvalEvent>
  /** Records a vote on a finished comparison: a `model_index`, `'tie'` or `'all_bad'`. */
  vote(requestId: string, winner: Winner, options: Owned & { feedback?: string }): Promise<VoteBody>
  /** Every owner's votes as a ranking; votes cast in [since, until). */
  leaderboard(options?: { since?: Instant; until?: Instant }): Promise<Leaderboard>
  /** `owner`'s calls, tokens and cost (`GET /v1/usage`), per model or per UTC day, in
   * [since, until) (default: the budget period, or the last 30 days), with the budget. */
  usage(options: Owned & { since?: Instant; until?: Instant; groupBy?: GroupBy }): Promise<UsageReport>
  /** `owner`'s comparisons outside sessions, newest first. */
  comparisons(options: PageOptions): Promise<ComparisonSummary[]>
  /** Starts a session: models and system prompt fixed for every turn. */
  createSession(options: Owned & { models: string | string[]; title?: string; system?: string }): Promise<SessionSummary>
  /** `owner`'s sessions, newest first. */
  sessions(options: PageOptions): Promise<SessionSummary[]>
  /** A session with every turn. */
  session(sessionId: string, options: Owned): Promise<SessionDetail>
  /** Mints an API key; its `key` is the secret, shown this once. Needs a store. */
  createKey(options: {
    user: string
    name?: string
    admin?: boolean
    models?: string | string[]
    rpm?: number
    maxActive?: number
    budgetUsd?: number
    period?: 'day' | 'week' | 'month'
    expiresAt?: Instant
  }): Promise<CreatedKey>
  /** A page of keys, newest first (never a secret). */
  keys(options?: { limit?: number; cursor?: string }): Promise<KeyPage>
  /** One key. */
  key(keyId: string): Promise<KeyView>
  /** Changes a key's name, limits or expiry (null clears one). */
  updateKey(keyId: string, changes: Record<string, unknown>): Promise<KeyView>
  /** Revokes a key. */
  revokeKey(keyId: string): Promise<KeyView>
  /** Who presents `secret`; throws `PermissionDeniedError` if no one valid does. */
  authenticate(secret: string | null | undefined): Promise<SelfView>
  /** Deletes a session and its turns. */
  deleteSession(sessionId: string, options: Owned): Promise<void>
  /** `model`'s price in this engine (price overrides applied), null if unpriced. */
  price(model: string): PriceSummary | null
  /** What `usage` of `model` costs in this engine. */
  cost(model: string, usage: UsageInput): Cost
}

/** Tokens in `text` for `model` (tiktoken: the model's encoding, else o200k_base). */
/** An image or file part (a path, an https:// or data: URL, or bytes; its type read from
 * the bytes). */
export function attachment(source: string | Uint8Array, options?: { name?: string }): Part
/** An image part; throws `InvalidRequestError` if the source is not an image. */
export function image(source: string | Uint8Array): Part
/** A file part (a PDF or a text file). */
export function file(source: string | Uint8Array, options?: { name?: string }): Part
export function countTokens(text: string, model: string): number
/** `model`'s price in the bundled table, null if unpriced. */
export function price(model: string): PriceSummary | null
/** What `usage` of `model` costs at the bundled prices. */
export function cost(model: string, usage: UsageInput): Cost
