'use strict'
// Generated from llm-compare-core's ErrorCode and ErrorFamily: do not edit.
// Regenerate: LLM_COMPARE_UPDATE_TS=1 cargo test -p llm-compare-service --test typescript

/** Each error class: [name, the class it extends (null for the base)], parents first. */
exports.CLASSES = [
  ['LlmCompareError', null],
  ['InvalidRequestError', 'LlmCompareError'],
  ['UnknownModelError', 'InvalidRequestError'],
  ['NotFoundError', 'LlmCompareError'],
  ['RateLimitedError', 'LlmCompareError'],
  ['ConflictError', 'LlmCompareError'],
  ['BudgetExceededError', 'LlmCompareError'],
  ['ProviderError', 'LlmCompareError'],
  ['UnavailableError', 'LlmCompareError'],
  ['NotConfiguredError', 'LlmCompareError'],
  ['PermissionDeniedError', 'LlmCompareError'],
]

/** The class of each error code. */
exports.CODES = {
  invalid_request: 'InvalidRequestError',
  unknown_model: 'UnknownModelError',
  payload_too_large: 'InvalidRequestError',
  limit_exceeded: 'InvalidRequestError',
  quota_exceeded: 'InvalidRequestError',
  unsupported_input: 'InvalidRequestError',
  not_found: 'NotFoundError',
  rate_limited: 'RateLimitedError',
  conflict: 'ConflictError',
  budget_exceeded: 'BudgetExceededError',
  unauthorized: 'PermissionDeniedError',
  forbidden: 'PermissionDeniedError',
  model_not_allowed: 'PermissionDeniedError',
  auth: 'ProviderError',
  bad_request: 'ProviderError',
  context_length_exceeded: 'ProviderError',
  content_filter: 'ProviderError',
  overloaded: 'ProviderError',
  server: 'ProviderError',
  timeout: 'ProviderError',
  network: 'ProviderError',
  parse: 'ProviderError',
  image_pull: 'ProviderError',
  unschedulable: 'ProviderError',
  out_of_memory: 'ProviderError',
  worker_exit: 'ProviderError',
  cancelled: 'LlmCompareError',
  shutting_down: 'LlmCompareError',
  interrupted: 'LlmCompareError',
  unavailable: 'UnavailableError',
  not_configured: 'NotConfiguredError',
  internal: 'LlmCompareError',
}
