import { InferenceError } from '@inferkit/inference-core';

/** Nesting walked in `details` (the runners build flat ones; anything deeper is dropped). */
const MAX_DETAILS_DEPTH = 4;

/**
 * A copy of `error` with `redact` applied to everything in it that a response may have put there:
 * the message (bodies, echoed headers such as `x-request-id`, content types), every string in
 * `details` (codes, params, scopes), and the cause (dropped when its text changes: its stack and
 * message would carry the secret otherwise). Returns `error` itself when nothing changed.
 */
export function redactError(error: InferenceError, redact: (text: string) => string): InferenceError {
  const message = redact(error.message);
  const details = redactValue(error.details, redact, 0);
  const cause = error.cause;
  const causeText = cause instanceof Error ? `${cause.message}\n${cause.stack ?? ''}` : typeof cause === 'string' ? cause : '';
  const causeLeaks = causeText !== '' && redact(causeText) !== causeText;
  if (message === error.message && details === error.details && !causeLeaks) return error;
  return new InferenceError(error.kind, message, {
    details: details as InferenceError['details'],
    retryable: error.retryable,
    ...(causeLeaks ? {} : { cause }),
    ...(error.requestId !== undefined ? { requestId: error.requestId } : {}),
    ...(error.status !== undefined ? { status: error.status } : {}),
    ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    ...(error.provider !== undefined ? { provider: error.provider } : {}),
  });
}

/** `value` with `redact` applied to its strings (keys included); the same object when nothing changed. */
function redactValue(value: unknown, redact: (text: string) => string, depth: number): unknown {
  if (typeof value === 'string') return redact(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DETAILS_DEPTH) return undefined;
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((v) => {
      const r = redactValue(v, redact, depth + 1);
      if (r !== v) changed = true;
      return r;
    });
    return changed ? out : value;
  }
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const rk = redact(k);
    const rv = redactValue(v, redact, depth + 1);
    if (rk !== k || rv !== v) changed = true;
    out[rk] = rv;
  }
  return changed ? out : value;
}
