/**
 * Deadlines of one HTTP call, in milliseconds. Each one that fires surfaces as an
 * `InferenceError` of kind `timeout` whose `details.phase` names it.
 */
export interface HttpTimeouts {
  /** TCP + TLS connection establishment. */
  connectMs: number;
  /** From sending the request to the response headers (a unary call waits for the whole answer). */
  firstByteMs: number;
  /** Longest silence between two body chunks of a stream. */
  idleMs: number;
  /** Whole call, headers to last byte; `undefined` = no overall deadline. */
  totalMs: number | undefined;
}

/**
 * Defaults sized for LLM traffic: reasoning models can think for minutes before the first
 * byte, and a healthy stream is never silent for a minute (providers send keep-alive pings).
 * undici's own 300 s headers/body timeouts are always overridden by these.
 */
export const DEFAULT_TIMEOUTS: Readonly<HttpTimeouts> = Object.freeze({
  connectMs: 10_000,
  firstByteMs: 600_000,
  idleMs: 120_000,
  totalMs: undefined,
});

export function resolveTimeouts(overrides: Partial<HttpTimeouts> | undefined): HttpTimeouts {
  const t: HttpTimeouts = { ...DEFAULT_TIMEOUTS, ...overrides };
  for (const key of ['connectMs', 'firstByteMs', 'idleMs'] as const) {
    const v = t[key];
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`timeouts.${key} must be a positive number of ms`);
  }
  if (t.totalMs !== undefined && (!Number.isFinite(t.totalMs) || t.totalMs <= 0)) {
    throw new RangeError('timeouts.totalMs must be a positive number of ms');
  }
  return t;
}
