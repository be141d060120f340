// Generated from llm-compare-core's Rust types by ts-rs: do not edit.
// Regenerate: LLM_COMPARE_UPDATE_TS=1 cargo test -p llm-compare-service --test typescript

/**
 * One event of a comparison's merged stream.
 */
export type Event = { 
/**
 * Position in the request's stream: starts at 1, strictly increases by 1.
 */
seq: number, } & ({ "type": "status", 
/**
 * The new status.
 */
status: RequestStatus, } | { "type": "stage", 
/**
 * The model's position in the request (0-based).
 */
model_index: number, 
/**
 * The model id (`provider/model`).
 */
model: string, 
/**
 * The new stage.
 */
stage: Stage, } | { "type": "response_chunk", 
/**
 * The model's position in the request.
 */
model_index: number, 
/**
 * The model id.
 */
model: string, 
/**
 * The new text.
 */
delta: string, } | { "type": "reasoning_chunk", 
/**
 * The model's position in the request.
 */
model_index: number, 
/**
 * The model id.
 */
model: string, 
/**
 * The new text.
 */
delta: string, } | { "type": "tool_call", 
/**
 * The model's position in the request.
 */
model_index: number, 
/**
 * The model id.
 */
model: string, 
/**
 * The call's id as the provider named it.
 */
id: string, 
/**
 * The tool's name.
 */
name: string, 
/**
 * The arguments, a JSON string as the model wrote it.
 */
arguments: string, } | { "type": "tool_result", 
/**
 * The model's position in the request.
 */
model_index: number, 
/**
 * The model id.
 */
model: string, 
/**
 * The call it answers.
 */
call_id: string, 
/**
 * The tool's name.
 */
name: string, 
/**
 * What the tool returned (or why it failed).
 */
content: Content, 
/**
 * Whether the tool failed (the model sees the error and goes on).
 */
is_error: boolean, 
/**
 * How long the tool ran.
 */
duration_ms: number, 
/**
 * Taken from the comparison's tool cassette, not executed.
 */
replayed?: boolean, } | { "type": "action", 
/**
 * The model's position in the request.
 */
model_index: number, 
/**
 * The model id.
 */
model: string, 
/**
 * The call's id (with `model_index`, what the result names).
 */
call_id: string, 
/**
 * The tool's name.
 */
name: string, 
/**
 * The arguments, a JSON object valid against the tool's schema.
 */
arguments: Record<string, unknown>, 
/**
 * How long the result is waited for.
 */
timeout_ms: number, } | { "type": "step", 
/**
 * The model's position in the request.
 */
model_index: number, 
/**
 * The model id.
 */
model: string, 
/**
 * The step that ended (1-based).
 */
step: number, 
/**
 * That step's usage.
 */
usage: Usage, } | { "type": "error", 
/**
 * The failed model's position, absent for request-wide errors.
 */
model_index?: number | null, 
/**
 * The failed model's id.
 */
model?: string | null, 
/**
 * Machine-readable code.
 */
code: ErrorCode, 
/**
 * What went wrong, for a person.
 */
message: string, 
/**
 * Whether trying again may help.
 */
retryable: boolean, } | { "type": "model_result" } & ModelResult | { "type": "complete" } & Complete);

/**
 * The status of a whole request.
 */
export type RequestStatus = "pending" | "running" | "completed" | "failed" | "cancelled" | "interrupted";

/**
 * The stage of one model within a request.
 */
export type Stage = "queued" | "connecting" | "streaming" | "done" | "failed" | "cancelled";

/**
 * Why a model stopped generating, normalized across providers.
 */
export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter" | "error" | "cancelled" | "other";

/**
 * One model's final result.
 */
export type ModelResult = { 
/**
 * The model's position in the request.
 */
model_index: number, 
/**
 * The model id.
 */
model: string, 
/**
 * The whole answer (what was streamed so far, if it failed or was cancelled).
 */
text: string, 
/**
 * The whole reasoning, when the model streamed any.
 */
reasoning?: string, 
/**
 * Tool calls the model made, in order.
 */
tool_calls?: Array<ToolCall>, 
/**
 * Why it stopped (normalized).
 */
finish_reason: FinishReason | null, 
/**
 * The provider's own finish reason, as it named it.
 */
raw_finish_reason?: string | null, 
/**
 * Whether the answer was cut short (failure or cancellation after some output).
 */
partial: boolean, 
/**
 * Token counts.
 */
usage: Usage, 
/**
 * Cost in USD.
 */
cost: Cost, 
/**
 * Timing.
 */
timing: Timing, 
/**
 * Why it failed, if it did.
 */
error?: ErrorInfo | null, 
/**
 * The model that actually answered, when a fallback did (`model` stays the one asked).
 */
served_by?: string | null, 
/**
 * Failed attempts before the answer (retries and fallbacks), oldest first.
 */
attempts?: Array<Attempt>, 
/**
 * Earlier session turns left out of this model's history because they no longer fit
 * its context window (oldest first).
 */
history_trimmed?: number, 
/**
 * With a JSON `response_format`: whether the answer is JSON valid against the schema.
 */
structured?: Structured, 
/**
 * Steps of its tool loop (a comparison with executable tools; absent otherwise): its
 * usage and cost are summed over them, `tool_calls` lists every step's calls, and its
 * time to first token is the first step's.
 */
steps?: number, 
/**
 * Each step's tool exchange (what the model said with its calls, and the results it
 * was given), oldest first: a session's next turn sends them again, so each model keeps
 * its own tool history.
 */
exchange?: Array<ToolStep>, };

/**
 * Whether an answer asked for as JSON is valid: parsed, then checked against the schema
 * (draft 2020-12).
 */
export type Structured = { 
/**
 * Whether it is.
 */
valid: boolean, 
/**
 * What is wrong, where (`path`: a JSON pointer into the answer; empty: the whole).
 */
errors?: Array<StructuredError>, };

/**
 * One reason an answer is not valid.
 */
export type StructuredError = { 
/**
 * A JSON pointer into the answer (`/items/0/price`).
 */
path: string, 
/**
 * What is wrong.
 */
message: string, };

/**
 * What shape the answer must take (OpenAI's `response_format`): free text, any JSON object,
 * or JSON valid against a schema.
 */
export type ResponseFormat = { "type": "text" } | { "type": "json_object" } | { "type": "json_schema", 
/**
 * The schema and its name.
 */
json_schema: JsonSchemaFormat, };

/**
 * A named JSON schema for structured output.
 */
export type JsonSchemaFormat = { 
/**
 * Its name: letters, digits, `_` and `-`, at most 64.
 */
name: string, 
/**
 * What the answer is.
 */
description?: string, 
/**
 * The JSON schema.
 */
schema: Record<string, unknown>, 
/**
 * Whether the provider must follow it exactly (where it can).
 */
strict?: boolean, };

/**
 * The last event of a request.
 */
export type Complete = { 
/**
 * The request's id.
 */
request_id: string, 
/**
 * Its final status.
 */
status: RequestStatus, 
/**
 * Every model's result, by `model_index`.
 */
results: Array<ModelResult>, 
/**
 * Sums.
 */
totals: Totals, 
/**
 * Milliseconds from start to end.
 */
duration_ms: number, };

/**
 * Sums over all models of a request.
 */
export type Totals = { 
/**
 * Input tokens of all models.
 */
input_tokens: number, 
/**
 * Output tokens of all models.
 */
output_tokens: number, 
/**
 * Cost of all priced models, in USD.
 */
cost_usd: number, 
/**
 * Whether every model was priced (if not, `cost_usd` covers the priced ones only).
 */
priced: boolean, };

/**
 * Token counts of one model call.
 *
 * Conventions (all providers are normalized to them): `input_tokens` includes
 * `cached_input_tokens` (read from the provider's cache), `cache_write_tokens` (written to
 * it; `cache_write_1h_tokens` of them with a 1-hour lifetime) and `audio_input_tokens`;
 * `output_tokens` includes `reasoning_tokens` and `audio_output_tokens`. Each part is priced
 * at its own rate (docs/costs.md).
 */
export type Usage = { 
/**
 * Prompt tokens, cached ones included.
 */
input_tokens: number, 
/**
 * Generated tokens, reasoning included.
 */
output_tokens: number, 
/**
 * Prompt tokens served from the provider's cache.
 */
cached_input_tokens: number, 
/**
 * Prompt tokens written to the provider's cache (Anthropic's
 * `cache_creation_input_tokens`), priced at the cache-write rate.
 */
cache_write_tokens: number, 
/**
 * Of `cache_write_tokens`, those written with a 1-hour lifetime (Anthropic's
 * `cache_creation.ephemeral_1h_input_tokens`), priced at the 1-hour cache-write rate.
 */
cache_write_1h_tokens: number, 
/**
 * Prompt tokens of audio not read from the cache, priced at the audio input rate.
 */
audio_input_tokens: number, 
/**
 * Generated tokens spent on reasoning.
 */
reasoning_tokens: number, 
/**
 * Generated tokens of audio, priced at the audio output rate.
 */
audio_output_tokens: number, 
/**
 * Reported by the provider or estimated.
 */
source: UsageSource, };

/**
 * Where token counts came from.
 */
export type UsageSource = "reported" | "estimated";

/**
 * The cost of one model call. Amounts are `None` when the model is unpriced.
 */
export type Cost = { 
/**
 * Input tokens (cached ones at the cache rate).
 */
input_usd: number | null, 
/**
 * Output tokens (reasoning ones at the reasoning rate when there is one).
 */
output_usd: number | null, 
/**
 * Both.
 */
total_usd: number | null, 
/**
 * Whether the price table had this model.
 */
priced: boolean, 
/**
 * Where the figure came from.
 */
source: CostSource, };

/**
 * Where a cost came from.
 */
export type CostSource = "price_table" | "config" | "provider" | "estimated";

/**
 * Per-model timing.
 */
export type Timing = { 
/**
 * Milliseconds from the call's start to its first token (`null` if none came).
 */
ttft_ms: number | null, 
/**
 * Milliseconds from the call's start to its end.
 */
total_ms: number, 
/**
 * Output tokens per second after the first token (`null` when not measurable).
 */
tokens_per_s: number | null, };

/**
 * An error as carried inside results.
 */
export type ErrorInfo = { 
/**
 * Machine-readable code.
 */
code: ErrorCode, 
/**
 * What went wrong.
 */
message: string, 
/**
 * Whether trying again may help.
 */
retryable: boolean, };

/**
 * Stable, machine-readable error codes (serialized in `snake_case`, e.g. `"rate_limited"`).
 */
export type ErrorCode = "invalid_request" | "unknown_model" | "payload_too_large" | "limit_exceeded" | "quota_exceeded" | "unsupported_input" | "not_found" | "rate_limited" | "conflict" | "budget_exceeded" | "unauthorized" | "forbidden" | "model_not_allowed" | "auth" | "bad_request" | "context_length_exceeded" | "content_filter" | "overloaded" | "server" | "timeout" | "network" | "parse" | "image_pull" | "unschedulable" | "out_of_memory" | "worker_exit" | "cancelled" | "shutting_down" | "interrupted" | "unavailable" | "not_configured" | "internal";

/**
 * A failed attempt of a model call (retried, or given up for a fallback).
 */
export type Attempt = { 
/**
 * The model that was tried.
 */
model: string, 
/**
 * Machine-readable code.
 */
code: ErrorCode, 
/**
 * What went wrong.
 */
message: string, 
/**
 * Whether trying again may help.
 */
retryable: boolean, };

/**
 * A tool call, complete.
 */
export type ToolCall = { 
/**
 * The call's id.
 */
id: string, 
/**
 * The tool's name.
 */
name: string, 
/**
 * The arguments (a JSON string).
 */
arguments: string, };

/**
 * One step of a model's tool loop, as its history keeps it.
 */
export type ToolStep = { 
/**
 * What the model said in this step, before its calls.
 */
text?: string, 
/**
 * Its calls.
 */
calls: Array<ToolCall>, 
/**
 * Their results, in the order the calls were made.
 */
results: Array<ToolStepResult>, };

/**
 * A tool result in a [`ToolStep`].
 */
export type ToolStepResult = { 
/**
 * The call it answers.
 */
call_id: string, 
/**
 * What the model was given.
 */
content: Content, 
/**
 * Whether it was an error.
 */
is_error?: boolean, };

/**
 * One message of a conversation.
 */
export type Message = { 
/**
 * Who wrote it.
 */
role: Role, 
/**
 * What it says — text, or parts: text, images, files (for a `tool` message: the tool's
 * result).
 */
content: Content, 
/**
 * Tool calls an assistant message made (same shape as the `tool_call` event).
 */
tool_calls?: Array<ToolCall>, 
/**
 * For a `tool` message: the id of the call it answers.
 */
tool_call_id?: string | null, };

/**
 * A message's content: text, or parts in order.
 */
export type Content = string | Array<Part>;

/**
 * One part of a message.
 */
export type Part = { "type": "text", 
/**
 * The text.
 */
text: string, } | { "type": "image", 
/**
 * `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
 */
media_type?: string, 
/**
 * The bytes, base64.
 */
data?: string, 
/**
 * Where the provider fetches it (shared: a `data:` URL is as large as its bytes).
 */
url?: string, } | { "type": "file", 
/**
 * `application/pdf` or `text/plain`.
 */
media_type?: string, 
/**
 * The bytes, base64.
 */
data?: string, 
/**
 * Where the provider fetches it (shared: a `data:` URL is as large as its bytes).
 */
url?: string, 
/**
 * Its file name.
 */
name?: string, };

/**
 * Who wrote a message.
 */
export type Role = "system" | "user" | "assistant" | "tool";

/**
 * Generation parameters, passed to every model of a comparison.
 */
export type Params = { 
/**
 * Sampling temperature, 0–2.
 */
temperature?: number | null, 
/**
 * Most tokens to generate, ≥ 1.
 */
max_tokens?: number | null, 
/**
 * Nucleus sampling, in (0, 1].
 */
top_p?: number | null, 
/**
 * Stop sequences (at most 4, none empty).
 */
stop?: Array<string>, 
/**
 * Seed for providers that support deterministic sampling.
 */
seed?: number | null, 
/**
 * How hard a reasoning model thinks: sent as `reasoning_effort` to OpenAI and
 * OpenAI-compatible models; other providers do not take it.
 */
reasoning_effort?: ReasoningEffort | null, };

/**
 * How hard a reasoning model thinks (OpenAI's `reasoning_effort` values).
 */
export type ReasoningEffort = "none" | "minimal" | "low" | "medium" | "high" | "xhigh";

/**
 * A tool the models may call, in OpenAI's function format:
 * `{"type": "function", "function": {"name", "description", "parameters": <JSON Schema>}}`.
 */
export type Tool = { 
/**
 * Always `"function"`.
 */
type: string, 
/**
 * The function.
 */
function: FunctionDef, };

/**
 * A function the models may call.
 */
export type FunctionDef = { 
/**
 * Its name (`[A-Za-z0-9_-]{1,64}`).
 */
name: string, 
/**
 * What it does.
 */
description?: string | null, 
/**
 * Its parameters, a JSON Schema object.
 */
parameters?: Record<string, unknown>, };

/**
 * Whether and which tool the models must call: `"auto"`, `"none"`, `"required"`, or
 * `{"type": "function", "function": {"name": …}}` (OpenAI's format).
 */
export type ToolChoice = ToolChoiceMode | { 
/**
 * Always `"function"`.
 */
type: string, 
/**
 * Which one.
 */
function: NamedFunction, };

/**
 * The string forms of [`ToolChoice`].
 */
export type ToolChoiceMode = "auto" | "none" | "required";

/**
 * The function a [`ToolChoice::Function`] names.
 */
export type NamedFunction = { 
/**
 * Its name.
 */
name: string, };

/**
 * A model as listed by `llm-compare models` and `GET /v1/models`.
 */
export type ModelInfo = { 
/**
 * `provider/model`.
 */
id: string, 
/**
 * The provider prefix.
 */
provider: string, 
/**
 * Context window in tokens, when known.
 */
context_window: number | null, 
/**
 * USD per 1M input tokens, when priced.
 */
input_usd_per_million: number | null, 
/**
 * USD per 1M output tokens, when priced.
 */
output_usd_per_million: number | null, 
/**
 * Where its prices come from: `price_table` or `config` (an override); null when unpriced.
 */
price_source: CostSource | null, 
/**
 * What it is known to take and do: `vision`, `pdf`, `response_schema`, `tools`,
 * `reasoning` (from the price data, or the configuration).
 */
capabilities: Array<string>, 
/**
 * What it is known not to take or do (same names): the UI disables it for such input.
 */
lacks: Array<string>, 
/**
 * The version of the price data its prices come from (`sha256:…`), when they do.
 */
price_version?: string, 
/**
 * Whether it can be used now.
 */
available: boolean, 
/**
 * Why not, when it cannot.
 */
reason?: string, };

/**
 * A model's price as people read it (see [`PriceTable::summary`]).
 */
export type PriceSummary = { 
/**
 * The model.
 */
model: string, 
/**
 * USD per million input tokens.
 */
input_usd_per_million: number, 
/**
 * USD per million output tokens.
 */
output_usd_per_million: number, 
/**
 * Its context window, when known.
 */
max_input_tokens: number | null, 
/**
 * Its output limit, when known.
 */
max_output_tokens: number | null, };

/**
 * A started comparison.
 */
export type Submitted = { 
/**
 * Its id (UUIDv7).
 */
request_id: string, 
/**
 * Its models, by `model_index` ("Model A", … when blind).
 */
models: Array<string>, 
/**
 * Earlier session turns left out of each model's history to fit its context window,
 * by `model_index` (session turns only).
 */
history_trimmed?: Array<number>, };

/**
 * A comparison now (`GET /v1/comparisons/{id}`, `engine.snapshot`).
 */
export type Snapshot = { 
/**
 * The id.
 */
request_id: string, 
/**
 * Its status.
 */
status: RequestStatus, 
/**
 * Unix milliseconds of its creation.
 */
created_at_ms: number, 
/**
 * The last event's seq.
 */
last_seq: number, 
/**
 * Each model, by `model_index`.
 */
models: Array<ModelSnapshot>, 
/**
 * Totals, once complete.
 */
totals?: Totals, 
/**
 * Duration, once complete.
 */
duration_ms?: number, 
/**
 * The metadata given at creation.
 */
metadata?: unknown, 
/**
 * The vote, once cast.
 */
preference?: VoteBody, 
/**
 * The user's message (session turns, and comparisons of a server with a store).
 */
prompt?: string, 
/**
 * The session this comparison is a turn of.
 */
session_id?: string, 
/**
 * Blind: model names are "Model A", … until the vote.
 */
blind: boolean, 
/**
 * The prompt's images and files (their bytes: `GET
 * /v1/comparisons/{id}/attachments/{index}`).
 */
attachments?: Array<AttachmentRef>, 
/**
 * Its category.
 */
category?: string, 
/**
 * Its tags.
 */
tags?: Array<string>, };

/**
 * One model's state in a snapshot.
 */
export type ModelSnapshot = { 
/**
 * Its position.
 */
model_index: number, 
/**
 * Its id.
 */
model: string, 
/**
 * Its stage.
 */
stage: Stage, 
/**
 * The text streamed so far.
 */
text: string, 
/**
 * Its result, once it finished.
 */
result?: ModelResult, };

/**
 * An image or file of a stored prompt: what it is and where its bytes are (the store's
 * attachments, by SHA-256; or the URL the provider fetched).
 */
export type AttachmentRef = { 
/**
 * `image` or `file`.
 */
type: AttachmentKind, 
/**
 * Its media type.
 */
media_type?: string, 
/**
 * SHA-256 of its bytes, hex (bytes given).
 */
sha256?: string, 
/**
 * Its size in bytes (bytes given).
 */
size?: number, 
/**
 * Its URL (a URL given).
 */
url?: string, 
/**
 * Its file name.
 */
name?: string, };

/**
 * What an attachment is.
 */
export type AttachmentKind = "image" | "file";

/**
 * A vote (`POST /v1/comparisons/{id}/preference`, `engine.vote`; also the vote in snapshots).
 */
export type VoteBody = { 
/**
 * The winning `model_index`, or `"tie"`, or `"all_bad"`.
 */
winner: Winner, 
/**
 * Free-text feedback.
 */
feedback?: string | null, };

/**
 * How a run goes.
 */
export type EvalOptions = { 
/**
 * The models compared on every row.
 */
models: Array<string>, 
/**
 * The judge: grades `llm_rubric` assertions and judges every pair of answers.
 */
judge: string | null, 
/**
 * Rows run at once (default 4).
 */
concurrency: number | null, 
/**
 * Runs of each row (default 1): pass^N is then the share of rows passed every time.
 */
repeat: number | null, 
/**
 * Let the judge judge comparisons that include its own model.
 */
allow_self_judge: boolean, };

/**
 * What a run streams.
 */
export type EvalEvent = { "type": "start", 
/**
 * The run's id.
 */
run_id: string, 
/**
 * Rows × repeats.
 */
units: number, 
/**
 * Of them, finished before (a resumed run: not run again).
 */
done: number, } | { "type": "row" } & RowReport | { "type": "summary" } & Summary | { "type": "cancelled", 
/**
 * The run's id.
 */
run_id: string, 
/**
 * Rows finished in this part of the run before the cancel.
 */
rows_done: number, };

/**
 * One finished row.
 */
export type RowReport = { 
/**
 * The row's id.
 */
row_id: string, 
/**
 * Which run of the row (0-based; with `repeat`).
 */
repeat: number, 
/**
 * The row's category.
 */
category?: string, 
/**
 * The comparison that answered it.
 */
comparison_id: string, 
/**
 * Each model's answer, by model order.
 */
results: Array<ModelOutcome>, 
/**
 * The judge's verdicts, with a judge.
 */
judge: RowJudge | null, };

/**
 * One model's answer to a row, checked.
 */
export type ModelOutcome = { 
/**
 * The model.
 */
model: string, 
/**
 * Its answer.
 */
text: string, 
/**
 * Whether every assertion held (and the model answered).
 */
passed: boolean, 
/**
 * Each assertion's outcome.
 */
assertions: Array<AssertionOutcome>, 
/**
 * Its cost, USD.
 */
cost_usd: number, 
/**
 * Its latency, ms.
 */
latency_ms: number, 
/**
 * Why it failed, when it did.
 */
error?: string, };

/**
 * An assertion's outcome on one answer.
 */
export type AssertionOutcome = { 
/**
 * The assertion's type.
 */
type: string, 
/**
 * Whether the answer satisfies it.
 */
passed: boolean, 
/**
 * Why not (or, for a judged one, the judge's reason).
 */
reason?: string, };

/**
 * The judge's part of a row.
 */
export type RowJudge = { 
/**
 * The judge.
 */
model: string, 
/**
 * Each pair's verdict.
 */
pairs: Array<PairVerdict>, 
/**
 * What judging this row cost (rubrics too), USD.
 */
cost_usd: number, };

/**
 * The judge's verdict on one pair of answers (both orders).
 */
export type PairVerdict = { 
/**
 * The first model's `model_index`.
 */
a_index: number, 
/**
 * The second's.
 */
b_index: number, 
/**
 * The first model.
 */
a: string, 
/**
 * The second.
 */
b: string, 
/**
 * The better one's name, or `tie` (also when the two orders disagreed).
 */
winner: string, 
/**
 * The better one's `model_index` (None: a tie).
 */
winner_index: number | null, 
/**
 * Whether both orders agreed.
 */
consistent: boolean, 
/**
 * The judge's reasons, in order shown (a, b), then (b, a).
 */
reasons: Array<string>, };

/**
 * The end of a run.
 */
export type Summary = { 
/**
 * The run's id.
 */
run_id: string, 
/**
 * Rows run (× repeats).
 */
rows: number, 
/**
 * Each model, in order.
 */
models: Array<ModelSummary>, 
/**
 * Significant differences (p < 0.05).
 */
better: Array<Better>, 
/**
 * What the models cost, USD.
 */
cost_usd: number, 
/**
 * What the judge cost, USD.
 */
judge_cost_usd: number, };

/**
 * One model's standing at the end of a run.
 */
export type ModelSummary = { 
/**
 * The model.
 */
model: string, 
/**
 * Rows (× repeats) passed / run.
 */
pass_rate: number, 
/**
 * Its Wilson 95 % interval.
 */
pass_ci: [number, number], 
/**
 * With `repeat` > 1: the share of rows passed every time (pass^N).
 */
pass_all_repeats?: number, 
/**
 * With `repeat` > 1: the variance of the pass rate across repeats.
 */
pass_variance?: number, 
/**
 * Mean cost per answer, USD.
 */
mean_cost_usd: number, 
/**
 * Mean latency, ms.
 */
mean_latency_ms: number, 
/**
 * With a judge: (wins + ½ ties) / judged pairs.
 */
judge_rating?: number, };

/**
 * A significant difference: `better` passes more of the rows where the two differ.
 */
export type Better = { 
/**
 * The better model.
 */
better: string, 
/**
 * The other.
 */
than: string, 
/**
 * The exact McNemar test's p-value.
 */
p_value: number, };

/**
 * A run, without its rows.
 */
export type EvalRunInfo = { 
/**
 * Its id.
 */
run_id: string, 
/**
 * Where it stands.
 */
status: EvalStatus, 
/**
 * The dataset's name.
 */
dataset: string, 
/**
 * How it runs.
 */
options: EvalOptions, 
/**
 * Rows × repeats.
 */
units: number, 
/**
 * Of them, finished.
 */
rows_done: number, 
/**
 * Unix ms.
 */
created_at_ms: number, 
/**
 * Unix ms, once completed.
 */
finished_at_ms?: number, 
/**
 * Its summary, once completed.
 */
summary?: Summary, };

/**
 * A run with its finished rows (`GET /v1/evals/{id}`).
 */
export type EvalRunView = { 
/**
 * The run.
 */
run: EvalRunInfo, 
/**
 * Its finished rows, oldest first.
 */
rows: Array<RowReport>, };

/**
 * Where a run stands.
 */
export type EvalStatus = "running" | "completed" | "cancelled" | "incomplete";

/**
 * A started run (`POST /v1/evals`).
 */
export type EvalStarted = { 
/**
 * Its id.
 */
run_id: string, 
/**
 * Rows × repeats.
 */
units: number, 
/**
 * Of them, finished before (a resumed run).
 */
done: number, };

/**
 * Who won.
 */
export type Winner = number | Outcome;

/**
 * The non-model outcomes of a vote.
 */
export type Outcome = "tie" | "all_bad";

/**
 * A comparison without its texts (listings).
 */
export type ComparisonSummary = { 
/**
 * Its id.
 */
id: string, 
/**
 * Its status.
 */
status: RequestStatus, 
/**
 * Its models, by `model_index` ("Model A", … while blind and not voted on).
 */
models: Array<string>, 
/**
 * The user's message (at most 200 characters of it).
 */
prompt?: string, 
/**
 * Unix milliseconds.
 */
created_at_ms: number, 
/**
 * Whether model names are hidden until the vote.
 */
blind: boolean, 
/**
 * Whether it has a vote.
 */
voted: boolean, 
/**
 * A comparison, a chat completion (`/v1/chat/completions`), a message
 * (`/v1/messages`) or a response (`/v1/responses`).
 */
kind: ComparisonKind, };

/**
 * What a stored comparison is.
 */
export type ComparisonKind = "comparison" | "chat_completion" | "message" | "response" | "judge";

/**
 * A session without its turns (listings).
 */
export type SessionSummary = { 
/**
 * Its id.
 */
id: string, 
/**
 * A title.
 */
title: string | null, 
/**
 * Its models, by `model_index`.
 */
models: Array<string>, 
/**
 * Its system prompt.
 */
system?: string, 
/**
 * Unix milliseconds.
 */
created_at_ms: number, 
/**
 * How many turns it has.
 */
turn_count: number, };

/**
 * A session with its turns (`GET /v1/sessions/{id}`, `engine.session`).
 */
export type SessionDetail = { 
/**
 * Its turns, oldest first: the question (`prompt`), every model's answer and the vote.
 */
turns: Array<Snapshot>, 
/**
 * Its id.
 */
id: string, 
/**
 * A title.
 */
title: string | null, 
/**
 * Its models, by `model_index`.
 */
models: Array<string>, 
/**
 * Its system prompt.
 */
system?: string, 
/**
 * Unix milliseconds.
 */
created_at_ms: number, 
/**
 * How many turns it has.
 */
turn_count: number, };

/**
 * A usage report.
 */
export type UsageReport = { 
/**
 * From (Unix ms, inclusive).
 */
from_ms: number, 
/**
 * To (Unix ms, exclusive).
 */
to_ms: number, 
/**
 * The grouping.
 */
group_by: GroupBy, 
/**
 * Rows, by model or by day.
 */
rows: Array<UsageLine>, 
/**
 * Sums over all rows.
 */
total: UsageLine, 
/**
 * The owner's budget, when one applies.
 */
budget?: BudgetView, };

/**
 * One row.
 */
export type UsageLine = { 
/**
 * The model (`group_by=model`).
 */
model?: string, 
/**
 * The UTC day, `YYYY-MM-DD` (`group_by=day`).
 */
day?: string, 
/**
 * Model calls.
 */
calls: number, 
/**
 * Input tokens.
 */
input_tokens: number, 
/**
 * Output tokens.
 */
output_tokens: number, 
/**
 * Cost of the priced calls.
 */
cost_usd: number, 
/**
 * Calls without a known price (not in `cost_usd`).
 */
unpriced_calls: number, 
/**
 * `cost_usd` split by where each figure came from.
 */
cost_by_source: CostBySource, };

/**
 * Costs split by their source ([`CostSource`]): what providers reported, what the price
 * table or an override priced, what rests on estimated usage.
 */
export type CostBySource = { 
/**
 * Reported by the provider with the call.
 */
provider: number, 
/**
 * The bundled price table on reported usage.
 */
price_table: number, 
/**
 * A configured price on reported usage.
 */
config: number, 
/**
 * Prices on usage the tokenizer counted.
 */
estimated: number, 
/**
 * Entered before sources were kept.
 */
unrecorded: number, };

/**
 * The owner's budget in the current period.
 */
export type BudgetView = { 
/**
 * `day`, `week` or `month` (UTC).
 */
period: "day" | "week" | "month", 
/**
 * Start of the current period (Unix ms).
 */
period_start_ms: number, 
/**
 * The limit.
 */
limit_usd: number, 
/**
 * Spent in the period.
 */
spent_usd: number, 
/**
 * Held by running comparisons (their worst case).
 */
reserved_usd: number, 
/**
 * What a new comparison may still reserve.
 */
remaining_usd: number, };

/**
 * A key as the API shows it: never its secret.
 */
export type KeyView = { 
/**
 * Its id.
 */
id: string, 
/**
 * `key`.
 */
object: string, 
/**
 * The user it authenticates as.
 */
user: string, 
/**
 * Its label.
 */
name: string | null, 
/**
 * The secret's first characters.
 */
prefix: string, 
/**
 * `admin` or `user`.
 */
scope: Scope, 
/**
 * Allowed models (glob patterns); empty: every model.
 */
models: Array<string>, 
/**
 * The server's tools it may run (glob patterns; empty: none); null: every tool.
 */
tools: Array<string> | null, 
/**
 * Requests per minute.
 */
rpm: number | null, 
/**
 * Comparisons at once.
 */
max_active: number | null, 
/**
 * Spending limit per period, USD.
 */
budget_usd: number | null, 
/**
 * The budget's period.
 */
period: "day" | "week" | "month" | null, 
/**
 * Created (Unix ms).
 */
created_at_ms: number, 
/**
 * Expires (Unix ms).
 */
expires_at_ms: number | null, 
/**
 * Last used (Unix ms, to the minute).
 */
last_used_at_ms: number | null, 
/**
 * Revoked (Unix ms).
 */
revoked_at_ms: number | null, 
/**
 * `active`, `expired` or `revoked`.
 */
status: string, };

/**
 * `POST /v1/keys`'s answer: the key, and its secret — shown this once.
 */
export type CreatedKey = { 
/**
 * The secret: `Authorization: Bearer <key>`. Not stored; not shown again.
 */
key: string, 
/**
 * Its id.
 */
id: string, 
/**
 * `key`.
 */
object: string, 
/**
 * The user it authenticates as.
 */
user: string, 
/**
 * Its label.
 */
name: string | null, 
/**
 * The secret's first characters.
 */
prefix: string, 
/**
 * `admin` or `user`.
 */
scope: Scope, 
/**
 * Allowed models (glob patterns); empty: every model.
 */
models: Array<string>, 
/**
 * The server's tools it may run (glob patterns; empty: none); null: every tool.
 */
tools: Array<string> | null, 
/**
 * Requests per minute.
 */
rpm: number | null, 
/**
 * Comparisons at once.
 */
max_active: number | null, 
/**
 * Spending limit per period, USD.
 */
budget_usd: number | null, 
/**
 * The budget's period.
 */
period: "day" | "week" | "month" | null, 
/**
 * Created (Unix ms).
 */
created_at_ms: number, 
/**
 * Expires (Unix ms).
 */
expires_at_ms: number | null, 
/**
 * Last used (Unix ms, to the minute).
 */
last_used_at_ms: number | null, 
/**
 * Revoked (Unix ms).
 */
revoked_at_ms: number | null, 
/**
 * `active`, `expired` or `revoked`.
 */
status: string, };

/**
 * A page of keys.
 */
export type KeyPage = { 
/**
 * `list`.
 */
object: string, 
/**
 * Newest first.
 */
data: Array<KeyView>, 
/**
 * Give as `cursor` for the next page; null on the last.
 */
next_cursor: string | null, };

/**
 * `GET /v1/keys/self`: who the caller is and what its key allows.
 */
export type SelfView = { 
/**
 * The caller's user.
 */
user: string, 
/**
 * `stored` (a key from the key API), `static` (from the configuration) or `open` (no
 * keys on this server).
 */
kind: string, 
/**
 * The stored key, when the caller used one.
 */
key: KeyView | null, 
/**
 * The budget the caller's requests are held against in the current period (the key's
 * own, else the server's for the user), when one applies.
 */
budget: BudgetView | null, 
/**
 * The user's calls, tokens and cost in the current budget period (else the last 30
 * days), when the server has a store.
 */
usage: UsageLine | null, };

/**
 * A key's scope.
 */
export type Scope = "user" | "admin";

/**
 * How rows are grouped.
 */
export type GroupBy = "model" | "day";

/**
 * The leaderboard.
 */
export type Leaderboard = { 
/**
 * Votes counted.
 */
votes: number, 
/**
 * Votes cast at or after (Unix ms), if filtered.
 */
from_ms?: number, 
/**
 * Votes cast before (Unix ms), if filtered.
 */
to_ms?: number, 
/**
 * Whose votes it counts.
 */
source: Source, 
/**
 * The category it counts, if one.
 */
category?: string, 
/**
 * The categories of the votes it could count (for a filter).
 */
categories: Array<string>, 
/**
 * Models, best first.
 */
models: Array<Standing>, 
/**
 * With `style_control`: the style covariates' coefficients (ratings and intervals are
 * then the style-controlled fit's).
 */
style?: StyleCoefficients, 
/**
 * Judge–human agreement on the comparisons both voted on (in the time window), when
 * there are any.
 */
agreement?: Agreement, };

/**
 * One model's standing.
 */
export type Standing = { 
/**
 * 1 for the best.
 */
rank: number, 
/**
 * The model.
 */
model: string, 
/**
 * Bradley-Terry rating.
 */
rating: number, 
/**
 * Lower end of its bootstrap 95% interval.
 */
ci_low: number, 
/**
 * Upper end of its bootstrap 95% interval.
 */
ci_high: number, 
/**
 * Online Elo (votes in time order).
 */
elo: number, 
/**
 * Votes it won.
 */
wins: number, 
/**
 * Votes another model won.
 */
losses: number, 
/**
 * Votes that were a tie or all bad.
 */
ties: number, 
/**
 * Votes it took part in.
 */
votes: number, 
/**
 * Mean time to first token over those comparisons.
 */
mean_ttft_ms: number | null, 
/**
 * Mean cost over those comparisons (priced calls).
 */
mean_cost_usd: number | null, };

/**
 * Whose votes a board counts.
 */
export type Source = "human" | "judge" | "all";

/**
 * How often judges agree with people, on the pairs of answers both judged.
 */
export type Agreement = { 
/**
 * Pairs judged by both a person and a judge.
 */
pairs: number, 
/**
 * Share of them with the same outcome (first better, second better, tie).
 */
rate: number, 
/**
 * Cohen's κ over those three outcomes: agreement beyond chance (1 perfect, 0 chance).
 */
kappa: number, };

/**
 * How much style sways a vote, when the board is style-controlled: each covariate's
 * coefficient (log-odds of winning per standard deviation of the covariate).
 */
export type StyleCoefficients = { 
/**
 * The answers' length difference ((a − b) / (a + b), in words).
 */
length: number, 
/**
 * Their markdown difference (headers, list items, bold spans, code fences).
 */
markdown: number, };
