import { InferenceError } from '@inferkit/inference-core';

/**
 * Deadlines of one HTTP call, in milliseconds. Each one that fires surfaces as an
 * `InferenceError` of kind `timeout` whose `details.phase` names it. "Output" below means a
 * chunk delivered to the caller (text, reasoning, a tool-call fragment, usage, the finish):
 * keep-alive comments and `ping` events keep a socket busy but are not output, so a stream that
 * only keeps itself alive still times out.
 */
export interface HttpTimeouts {
  /** TCP + TLS connection establishment. */
  connectMs: number;
  /**
   * From sending the request to the first output: the response headers, and for a stream its
   * first chunk of output (reasoning models think silently or behind keep-alives first). A unary
   * call waits this long for the whole answer. Phase `first_byte`.
   */
  firstByteMs: number;
  /**
   * After the first output, the longest time without output: between two chunks of a stream,
   * or between two body reads of a unary answer. Phase `idle`.
   */
  idleMs: number;
  /** Whole call, request to last byte. Phase `total`. */
  totalMs: number;
}

/** Longest delay a timer can hold (2³¹−1 ms, about 24.8 days); a longer one would fire at once. */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * Defaults sized for LLM traffic: reasoning models can think for minutes before the first
 * output, and a healthy stream is not silent for two minutes once it has started. `totalMs`
 * (one hour) bounds every call, so a server that keeps a stream open with keep-alives alone
 * cannot hold it forever. undici's own 300 s headers/body timeouts are always overridden.
 */
export const DEFAULT_TIMEOUTS: Readonly<HttpTimeouts> = Object.freeze({
  connectMs: 10_000,
  firstByteMs: 600_000,
  idleMs: 120_000,
  totalMs: 3_600_000,
});

/** Defaults filled in and each value checked (a number of ms in [1, `MAX_TIMEOUT_MS`]). */
export function resolveTimeouts(overrides: Partial<HttpTimeouts> | undefined): HttpTimeouts {
  const t: HttpTimeouts = { ...DEFAULT_TIMEOUTS };
  for (const key of ['connectMs', 'firstByteMs', 'idleMs', 'totalMs'] as const) {
    const v = overrides?.[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 1 || v > MAX_TIMEOUT_MS) {
      throw new InferenceError('bad_request', `timeouts.${key} must be a number of ms in [1, ${MAX_TIMEOUT_MS}]`, {
        details: { param: `timeouts.${key}` },
      });
    }
    t[key] = v;
  }
  return t;
}
