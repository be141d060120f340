// Generated from llm-compare-core's ErrorCode and ErrorFamily: do not edit.
// Regenerate: LLM_COMPARE_UPDATE_TS=1 cargo test -p llm-compare-service --test typescript
import { LlmCompareError } from './index'

/** A bad argument (`field` names it). Codes: `invalid_request`, `payload_too_large`, `limit_exceeded`, `quota_exceeded`, `unsupported_input`. */
export declare class InvalidRequestError extends LlmCompareError {}

/** No provider serves this model. Codes: `unknown_model`. */
export declare class UnknownModelError extends InvalidRequestError {}

/** Unknown, expired or another owner's request. Codes: `not_found`. */
export declare class NotFoundError extends LlmCompareError {}

/** Too many requests, or too many active ones, for this owner. Codes: `rate_limited`. */
export declare class RateLimitedError extends LlmCompareError {}

/** The request is in a state that forbids this. Codes: `conflict`. */
export declare class ConflictError extends LlmCompareError {}

/** The budget cannot cover the worst-case cost. Codes: `budget_exceeded`. */
export declare class BudgetExceededError extends LlmCompareError {}

/** An upstream provider failed (`code`, `retryable`). Codes: `auth`, `bad_request`, `context_length_exceeded`, `content_filter`, `overloaded`, `server`, `timeout`, `network`, `parse`, `image_pull`, `unschedulable`, `out_of_memory`, `worker_exit`. */
export declare class ProviderError extends LlmCompareError {}

/** The database, Redis or the registry is unreachable: retry shortly (`retryable`). Codes: `unavailable`. */
export declare class UnavailableError extends LlmCompareError {}

/** The feature needs something this engine was not given (a store, Redis, a runner). Codes: `not_configured`. */
export declare class NotConfiguredError extends LlmCompareError {}

/** The API key does not allow this (missing, expired or revoked; not an admin; a model outside its allow-list). Codes: `unauthorized`, `forbidden`, `model_not_allowed`. */
export declare class PermissionDeniedError extends LlmCompareError {}
