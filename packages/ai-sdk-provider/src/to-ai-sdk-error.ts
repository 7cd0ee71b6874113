import { AISDKError, APICallError } from '@ai-sdk/provider';
import { liftInternal } from '@inferkit/inference-core';

/** Where the failed call went, for the error's `url` and `requestBodyValues`. */
export interface ErrorContext {
  /** The provider's model id (`inferkit('local')` → `'local'`). */
  modelId: string;
  /** The `ExecuteBatch.requestId` of the call, when one was made. */
  requestId: string | undefined;
  /** The call's abort signal. */
  abortSignal: AbortSignal | undefined;
}

/**
 * The error a provider call throws (or streams) for whatever the runner threw.
 *
 * - The caller aborted: the signal's `reason`, as a fetch-based provider throws it, so the AI SDK
 *   recognises its own abort (`AbortError`, `TimeoutError`) and ends with an `abort` part.
 * - An AI SDK error (thrown while converting the call): unchanged.
 * - Anything else goes through `liftInternal` and becomes an `APICallError`: `isRetryable` is the
 *   `InferenceError`'s `retryable` (the AI SDK retries only retryable `APICallError`s, before any
 *   output), `statusCode` its HTTP `status` when the runner had one, a `retry-after-ms` response
 *   header carries `retryAfterMs` (the AI SDK's retry honours it), and `data` is
 *   `{ kind, requestId }` so callers can match on the kind.
 *
 * Only the message, kind, status and request id leave: no details, no cause, no stack of the
 * runner's error, since AI SDK errors are commonly logged or serialized whole (`JSON.stringify`
 * includes `cause`), and details such as a crashed engine's stderr are for the runner's own logs.
 */
export function toAISDKError(error: unknown, context: ErrorContext): unknown {
  const signal = context.abortSignal;
  if (signal?.aborted === true) return signal.reason;
  if (AISDKError.isInstance(error)) return error;
  const err = liftInternal(error, context.requestId);
  const requestId = err.requestId ?? context.requestId;
  const data: { kind: string; requestId?: string } = { kind: err.kind };
  if (requestId !== undefined) data.requestId = requestId;
  return new APICallError({
    message: err.message,
    url: `inferkit:${context.modelId}`,
    requestBodyValues: requestId !== undefined ? { model: context.modelId, requestId } : { model: context.modelId },
    statusCode: err.status,
    responseHeaders: err.retryAfterMs !== undefined ? { 'retry-after-ms': String(err.retryAfterMs) } : undefined,
    isRetryable: err.retryable,
    data,
  });
}
