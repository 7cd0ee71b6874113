import { InferenceError } from './inference-error.js';

/**
 * The `InferenceError` an aborted signal stands for: its `reason` when that already is an
 * `InferenceError` (a deadline's `timeout`, say), else kind `cancelled` carrying the reason's text.
 */
export function abortError(signal: AbortSignal, requestId?: string): InferenceError {
  const reason: unknown = signal.reason;
  if (InferenceError.isInstance(reason)) return reason;
  const text = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
  return new InferenceError('cancelled', text, { details: { reason: text }, ...(requestId !== undefined ? { requestId } : {}) });
}
