/**
 * How failed attempts are retried. Only attempts that failed before the first chunk reached the
 * caller are retried (a stream is never duplicated), and only for `retryable` errors. Every field
 * is optional; `DEFAULT_RETRY_POLICY` fills the gaps (`{ maxRetries: 1 }` is a complete policy).
 */
export interface RetryPolicy {
  /** Retries after the first attempt (0 = never retry; default 2). */
  maxRetries?: number;
  /** Backoff before the first retry (ms, default 500). */
  initialDelayMs?: number;
  /** Upper bound of the exponential backoff (ms, default 8,000). */
  maxDelayMs?: number;
  /** Growth factor per retry (default 2). */
  multiplier?: number;
  /**
   * Random spread of each delay `d` (default `'full'`):
   * `'none'` → d; `'equal'` → uniform in [d/2, d]; `'full'` → uniform in [0, d].
   */
  jitter?: 'none' | 'equal' | 'full';
  /**
   * Longest Retry-After the client will honour (ms, default 60,000). A longer server demand fails
   * at once with the original error, whose `retryAfterMs` carries the demanded delay.
   */
  retryAfterCapMs?: number;
  /** Whether the request may safely run twice (default true). `false` disables retries. */
  idempotent?: boolean;
}

/** Defaults used where a field is missing: 2 retries, 500 ms doubling to 8 s, full jitter. */
export const DEFAULT_RETRY_POLICY: Required<RetryPolicy> = Object.freeze({
  maxRetries: 2,
  initialDelayMs: 500,
  maxDelayMs: 8_000,
  multiplier: 2,
  jitter: 'full',
  retryAfterCapMs: 60_000,
  idempotent: true,
});
