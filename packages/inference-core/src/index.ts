// Contract types
export type { RuntimeKind } from './runtime-kind.js';
export type { ProviderKind } from './provider-kind.js';
export type { TransportKind } from './transport-kind.js';
export type { WeightSource } from './weight-source.js';
export type { SessionRebuildCause } from './session-rebuild-cause.js';
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
export { RunHandle } from './run-handle.js';
export type { RunHandleCancelHook, RunHandleOptions, RunHandleSource } from './run-handle.js';
export { isGilPinned } from './is-gil-pinned.js';

// Errors
export {
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
