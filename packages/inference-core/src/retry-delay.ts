import { InferenceError } from './inference-error.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy.js';

/**
 * Backoff before retry number `retry` (0 = first retry): `min(maxDelayMs, initialDelayMs ×
 * multiplier^retry)`, spread by the policy's jitter with `random` (default `Math.random`, a real
 * RNG: synchronized clients must not retry in lockstep).
 */
export function computeBackoffMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const multiplier = policy.multiplier ?? DEFAULT_RETRY_POLICY.multiplier;
  const maxDelayMs = policy.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs;
  const initialDelayMs = policy.initialDelayMs ?? DEFAULT_RETRY_POLICY.initialDelayMs;
  const base = Math.min(maxDelayMs, initialDelayMs * Math.pow(multiplier, Math.max(0, retry)));
  const jitter = policy.jitter ?? DEFAULT_RETRY_POLICY.jitter;
  if (jitter === 'none') return base;
  if (jitter === 'equal') return base / 2 + random() * (base / 2);
  return random() * base;
}

/** Outcome of `decideRetry`. */
export type RetryDecision =
  | { retry: true; /** Wait this long before the next attempt (ms). */ delayMs: number; /** Whether the server's Retry-After set it. */ fromRetryAfter: boolean }
  | { retry: false; /** The error to deliver (the original one). */ error: InferenceError; /** Why not retried. */ reason: 'not_retryable' | 'not_idempotent' | 'max_retries' | 'retry_after_too_long' };

/**
 * Whether to retry after `error` when `retriesSoFar` retries already happened, and how long to
 * wait. A Retry-After (`error.retryAfterMs`) up to `retryAfterCapMs` (default 60 s) is used as the
 * delay; a longer one fails fast with the original error, which carries the demanded delay.
 */
export function decideRetry(
  error: InferenceError,
  retriesSoFar: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): RetryDecision {
  if (policy.idempotent === false) return { retry: false, error, reason: 'not_idempotent' };
  if (!error.retryable) return { retry: false, error, reason: 'not_retryable' };
  if (retriesSoFar >= (policy.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries)) return { retry: false, error, reason: 'max_retries' };
  const retryAfter = error.retryAfterMs;
  if (retryAfter !== undefined && Number.isFinite(retryAfter) && retryAfter >= 0) {
    const cap = policy.retryAfterCapMs ?? DEFAULT_RETRY_POLICY.retryAfterCapMs;
    if (retryAfter > cap) return { retry: false, error, reason: 'retry_after_too_long' };
    return { retry: true, delayMs: retryAfter, fromRetryAfter: true };
  }
  return { retry: true, delayMs: computeBackoffMs(retriesSoFar, policy, random), fromRetryAfter: false };
}
