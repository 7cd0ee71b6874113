// Contract types
export type { RuntimeKind } from './runtime-kind.js';
export type { ProviderKind } from './provider-kind.js';
export type { TransportKind } from './transport-kind.js';
export type { WeightSource } from './weight-source.js';
export type { SessionRebuildCause } from './session-rebuild-cause.js';
export { SESSION_REBUILD_CAUSES } from './session-rebuild-cause.js';
export type { CudaContextHandle } from './cuda-context-handle.js';
export type { ContentPart } from './content-part.js';
export type { ToolCall } from './tool-call.js';
export type { Message } from './message.js';
export type { SamplingParams } from './sampling-params.js';
export type { JsonSchema, ToolDefinition } from './tool-definition.js';
export type { ToolChoice } from './tool-choice.js';
export type { ResponseFormat } from './response-format.js';
export type { ExecuteBatch } from './execute-batch.js';
export type { FinishReason } from './finish-reason.js';
export type { TokenUsage } from './token-usage.js';
export type { ToolCallDelta } from './tool-call-delta.js';
export type { TokenChunk } from './token-chunk.js';
export { Tokens } from './tokens.js';
export type { RateLimits } from './rate-limits.js';
export type { ExecuteOptions, LoadWeightsOptions, ModelRunner, WeightLoadProgress } from './model-runner.js';
export type { RunnerCapabilities } from './runner-capabilities.js';
export { RUNNER_CAPABILITY_NAMES } from './runner-capabilities.js';
export { capabilitiesOf } from './capabilities-of.js';
export type { RunnerFactory } from './runner-factory.js';
export { RunHandle } from './run-handle.js';
export type { RunHandleCancelHook, RunHandleOptions, RunHandlePushable, RunHandlePushOptions, RunHandleSource } from './run-handle.js';
export { RunHandleController } from './run-handle-controller.js';
export { isGilPinned } from './is-gil-pinned.js';

// Helpers every runner shares
export { RunnerOptions } from './runner-options.js';
export { validateBatch, MAX_REQUEST_ID_LENGTH, MAX_SCHEMA_DEPTH, MAX_SCHEMA_NODES, MAX_STOP_SEQUENCES } from './validate-batch.js';
export type { ValidateBatchOptions } from './validate-batch.js';
export { messageText } from './message-text.js';
export { estimatePromptTokens, ESTIMATED_TOKENS_PER_IMAGE, ESTIMATED_TOKENS_PER_MESSAGE } from './estimate-prompt-tokens.js';
export { StopSequenceMatcher } from './stop-sequence-matcher.js';
export { abortError } from './abort-error.js';
export { rebuildCauseApplies } from './rebuild-cause-applies.js';

// Errors
export {
  FROM_JSON_LIMITS,
  INFERENCE_ERROR_KINDS,
  InferenceError,
  isInferenceErrorKind,
  liftInternal,
} from './inference-error.js';
export type {
  InferenceErrorDetails,
  InferenceErrorDetailsByKind,
  InferenceErrorJSON,
  InferenceErrorKind,
  InferenceErrorOptions,
} from './inference-error.js';

// Time
export { FakeClock, realClock } from './clock.js';
export type { Clock, ClockTimer } from './clock.js';

// Declarative surface
export type { Deployment } from './deployment.js';
export type { RetryPolicy } from './retry-policy.js';
export { DEFAULT_RETRY_POLICY } from './retry-policy.js';
export type { Timeouts } from './timeouts.js';
export type { CircuitBreakerConfig } from './circuit-breaker-config.js';
export type { Budget } from './budget.js';
export type { Serving } from './serving.js';
export { validateDeployment } from './validate-deployment.js';
export { inferRuntime } from './infer-runtime.js';

// Policies
export { sleep } from './sleep.js';
export { RateLimiter } from './rate-limiter.js';
export type { RateLimitCost, RateLimitObservation, RateLimitPermit, RateLimiterOptions } from './rate-limiter.js';
export { CircuitBreaker } from './circuit-breaker.js';
export type { CircuitBreakerOptions, CircuitState, CircuitTicket, CircuitTransition } from './circuit-breaker.js';
export { computeBackoffMs, decideRetry } from './retry-delay.js';
export type { RetryDecision } from './retry-delay.js';
export { BudgetTracker, budgetExceededError } from './budget-tracker.js';
export type { BudgetExcess } from './budget-tracker.js';
export { memoryPolicyStore } from './policy-store.js';
export type { BreakerGate, BudgetAdmission, BudgetLedger, PolicyStore, PolicyStoreOptions, RateGate } from './policy-store.js';
export { SPAN_KIND_CLIENT, SPAN_STATUS_ERROR } from './span-tracer.js';
export type { SpanAttributes, SpanTracer, TraceSpan } from './span-tracer.js';
export { SupervisedRunner, supervise } from './supervise.js';
export type { SupervisePolicy } from './supervise.js';
export type { RebuildPolicy } from './rebuild-policy.js';
export type { SuperviseEvent } from './supervise-event.js';

// Serving
export { route, Router } from './router.js';
export type { RouteAttempt } from './router.js';
export type { RouteTarget } from './route-target.js';
export type { RouteTargetStats } from './route-target-state.js';
export { DEFAULT_FALLBACK_KINDS, DEFAULT_ROUTE_BREAKER } from './route-options.js';
export type { RouteOptions, RouteStrategy } from './route-options.js';
export type { RouteEvent } from './route-event.js';
